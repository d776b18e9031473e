// `spfs unmount` stops waiting for uploads once the mount has been offline for UNREACHABLE_GIVE_UP_MS, as
// Connectivity (the only owner of that state) tells it; the uploader keeps no "unreachable" flag of its own. And
// when `spfs pin` stops waiting for its downloads.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ask } from '../../src/cli/control-client';
import {
  pinWaitEnds,
  startControlSocket,
  unmountGivesUp,
  UNREACHABLE_GIVE_UP_MS,
} from '../../src/cli/control-socket';
import { NetworkError, HttpStatusError } from '../../src/protocol/errors';
import { silentLogger } from '../../src/shared/logger';
import { Connectivity } from '../../src/sync/connectivity';
import type { Uploader } from '../../src/sync/uploader';
import { manualClock } from '../sync/manual-clock';

describe('unmount give-up reads Connectivity', () => {
  test('online, or offline for less than the limit: keep waiting; offline for the limit: detach', async () => {
    const clock = manualClock();
    const c = new Connectivity(clock, silentLogger());
    expect(unmountGivesUp(c)).toBe(false);
    c.reportFailure(new HttpStatusError({ status: 503, method: 'POST', url: 'x' }));
    await clock.advance(UNREACHABLE_GIVE_UP_MS);
    expect(unmountGivesUp(c)).toBe(false); // a 5xx answer means the server is there
    c.reportFailure(new NetworkError('connect ECONNREFUSED', 'unreachable'));
    await clock.advance(UNREACHABLE_GIVE_UP_MS - 1);
    expect(unmountGivesUp(c)).toBe(false);
    await clock.advance(1);
    expect(unmountGivesUp(c)).toBe(true);
    c.reportSuccess();
    expect(unmountGivesUp(c)).toBe(false);
    expect(unmountGivesUp(undefined)).toBe(false);
  });
});

describe('spfs pin waits', () => {
  const progress = { files: 3, filesDone: 1, bytes: 30, bytesDone: 10, failed: [], offline: false };
  const failure = { path: '/a', error: 'the content cache is full' };
  test('until every document is here, or the rest failed; while offline it keeps waiting', () => {
    expect(pinWaitEnds(progress)).toBe(false);
    expect(pinWaitEnds({ ...progress, filesDone: 3, bytesDone: 30 })).toBe(true);
    expect(pinWaitEnds({ ...progress, failed: [failure, { ...failure, path: '/b' }] })).toBe(true);
    expect(pinWaitEnds({ ...progress, failed: [failure] })).toBe(false);
    expect(pinWaitEnds({ ...progress, failed: [failure, failure], offline: true })).toBe(false);
    expect(pinWaitEnds({ ...progress, files: 0, filesDone: 0, bytes: 0, bytesDone: 0 })).toBe(true);
  });
});

describe('a control request that fails', () => {
  // Mock uploader: a drain that throws cannot be caused on demand through a real journal.
  test('is answered with the error (mocked failing drain), and unmount does not detach', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spfs-control-'));
    const path = join(dir, 'control.sock');
    const failing = {
      pending: () => [],
      drain: () => Promise.reject(new Error('database disk image is malformed')),
    } as unknown as Uploader;
    const kill = jest.spyOn(process, 'kill').mockImplementation(() => true);
    const socket = startControlSocket(path, failing, silentLogger());
    try {
      await new Promise((r) => setTimeout(r, 50)); // listening
      const reply = await ask(path, { cmd: 'unmount', force: false }, () => undefined);
      expect(reply.done).toBe(true);
      expect(reply.error).toBe('the daemon failed: database disk image is malformed');
      await new Promise((r) => setTimeout(r, 100));
      expect(kill).not.toHaveBeenCalled();
    } finally {
      kill.mockRestore();
      await socket.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
