// Defects the fault storm (test/reliability/fault-storm.test.ts) found in the write path, each reproduced alone on a
// real mount with the reference server's fault injection: a forced ETag conflict on an update of our own version
// made a conflict copy and put the older version back under the name; a 503 + Retry-After answered to a write batch
// before its body was read reached the client as a connection reset, so it resent before Retry-After expired; a
// forced conflict on a folder's delete kept the folder ("edited on the server"), though a folder's ETag never changes.
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN, adminPost } from '../helpers/admin-endpoint';
import { retryAfterViolations } from '../helpers/fault-storm';
import {
  assertE2EPrerequisites,
  forceCleanup,
  makeTempDir,
  mountUnder,
  readRequestLog,
  runSpfs,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

jest.setTimeout(120_000);

describe('write path under injected faults (real mount, regressions of the fault storm)', () => {
  let work: string;
  let server: ServerProcess;
  const track: string[] = [];
  const admin = (path: string, body: unknown): Promise<unknown> =>
    adminPost(new URL(server.url).port, ADMIN_TOKEN, path, body);
  const flush = (m: MountProcess): ReturnType<typeof runSpfs> =>
    runSpfs(['flush', m.mountpoint], { SPFS_STATE_DIR: join(m.cacheDir, '..', 'state') });

  beforeAll(async () => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    work = makeTempDir('write-faults');
    server = await startServerProcess({ dataDir: join(work, 'data'), extraArgs: [...ADMIN_ARGS] });
  });
  afterAll(async () => forceCleanup(track, [work], server ? [server] : []));

  it('makes no conflict copy when a forced conflict refuses an update of our own version', async () => {
    const a = await mountUnder(server, work, 'own', ['--write-back', '0.2'], track);
    writeFileSync(join(a.mountpoint, 'own.txt'), 'first version\n');
    expect((await flush(a)).code).toBe(0);
    // Every ETag check of the next write batches fails, though the server's version is the one we wrote.
    await admin('/faults', { kind: 'etag-conflict', method: 'POST', path: '/RootFolder\\?', count: 2 });
    writeFileSync(join(a.mountpoint, 'own.txt'), 'second version\n');
    const flushed = await flush(a);
    expect(flushed.stdout).toContain('everything is on the server');
    expect(((await admin('/faults', [])) as { faults: unknown[] }).faults).toEqual([]);
    expect((await a.unmount()).code).toBe(0);

    const b = await mountUnder(server, work, 'own-check', [], track);
    expect(readdirSync(b.mountpoint)).toEqual(['own.txt']);
    expect(readFileSync(join(b.mountpoint, 'own.txt'), 'utf8')).toBe('second version\n');
    expect((await b.unmount()).code).toBe(0);
  });

  it('deletes a folder whose delete a forced conflict refused (a folder keeps its ETag: nobody edited it)', async () => {
    const a = await mountUnder(server, work, 'rmdir', ['--write-back', '0.2'], track);
    mkdirSync(join(a.mountpoint, 'gone'));
    expect((await flush(a)).code).toBe(0);
    await admin('/faults', { kind: 'etag-conflict', method: 'POST', path: '/RootFolder\\?', count: 1 });
    rmdirSync(join(a.mountpoint, 'gone'));
    expect((await flush(a)).stdout).toContain('everything is on the server');
    expect((await a.unmount()).code).toBe(0);
    const b = await mountUnder(server, work, 'rmdir-check', [], track);
    expect(readdirSync(b.mountpoint)).not.toContain('gone');
    expect((await b.unmount()).code).toBe(0);
  });

  it('answers a throttled write batch with its 503, and the client waits for Retry-After', async () => {
    const a = await mountUnder(server, work, 'throttled', ['--write-back', '0.2'], track);
    const before = readRequestLog(server).length;
    // A multi-megabyte inline upload: the answer comes while the client is still sending the body.
    await admin('/faults', { kind: 'status', status: 503, retryAfterSeconds: 2, method: 'POST', count: 1 });
    const bytes = Buffer.alloc(7 * 1024 * 1024, 'x');
    writeFileSync(join(a.mountpoint, 'throttled.bin'), bytes);
    expect((await flush(a)).stdout).toContain('everything is on the server');
    const log = readRequestLog(server).slice(before);
    expect(log.filter((l) => l.status === 503).length).toBe(1);
    expect(retryAfterViolations(log, 2000)).toEqual([]);
    expect((await a.unmount()).code).toBe(0);
  });
});
