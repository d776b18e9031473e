// Connectivity is the mount's one online/offline state: a real protocol client reports a refused or reset connection
// to it on the first attempt (before any retry) and stops retrying while it says offline; the change feed probes at
// once whoever turned it offline; a read of missing bytes on an open handle fails at once while offline.
import { createServer, type Server, type Socket } from 'node:net';
import * as path from 'node:path';
import { ContentCache } from '../../src/cache/content-cache';
import { MetadataStore } from '../../src/cache/metadata-store';
import { NetworkError } from '../../src/protocol/errors';
import { SpClient } from '../../src/protocol/sp-client';
import { asItemId, asListId } from '../../src/shared/ids';
import { silentLogger } from '../../src/shared/logger';
import { ChangeFeed } from '../../src/sync/change-feed';
import { Connectivity, OfflineError, type ConnectivityStatus } from '../../src/sync/connectivity';
import { Hydrator, readInto } from '../../src/sync/hydrator';
import { TreeSync } from '../../src/sync/tree-sync';
import { FakeFileSyncApi } from '../helpers/fake-file-sync-api';
import { TempDirs } from '../helpers/temp-dirs';
import { manualClock } from './manual-clock';

const dirs = new TempDirs();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

/** A TCP server that resets every connection it accepts (a server process dying under its clients). */
async function resettingServer(): Promise<{ origin: string; connections: () => number }> {
  let n = 0;
  const server: Server = createServer((sock: Socket) => {
    n++;
    sock.resetAndDestroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { origin: `http://127.0.0.1:${addr.port}`, connections: () => n };
}

describe('Connectivity, the one online/offline state', () => {
  test('a request that failed on our side (its upload source vanished) does not turn it offline', () => {
    const connectivity = new Connectivity(manualClock(), silentLogger());
    const local = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
    expect(
      connectivity.reportFailure(new NetworkError('POST /x: failed (ENOENT)', 'other', { cause: local })),
    ).toBe(false);
    expect(connectivity.online).toBe(true);
    expect(connectivity.reportFailure(new NetworkError('POST /x: unreachable', 'unreachable'))).toBe(true);
    expect(connectivity.online).toBe(false);
  });

  test('a reset connection turns it offline on the first attempt, and the request is not retried while offline', async () => {
    const clock = manualClock();
    const connectivity = new Connectivity(clock, silentLogger());
    const seen: ConnectivityStatus[] = [];
    connectivity.onChange((s) => seen.push(s));
    const server = await resettingServer();
    const client = await SpClient.connect({
      url: `${server.origin}/sites/x`,
      library: {
        siteUrl: `${server.origin}/sites/x`,
        listId: asListId('0123456789abcdef0123456789abcdef'),
        siteId: '',
      },
      clock,
      reachability: connectivity,
      random: () => 0.5,
    });
    cleanups.push(() => client.close());
    let settled: unknown;
    const call = client.item(asItemId('0123456789abcdef0123456789abcdef')).then(
      () => (settled = 'resolved'),
      (err: unknown) => (settled = err),
    );
    for (let i = 0; i < 200 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    // Offline as soon as the first attempt broke, while the request itself is still in its retry loop.
    expect(seen.map((s) => s.state)).toEqual(['offline']);
    expect(settled).toBeUndefined();
    await clock.advance(1000); // past the first backoff: the loop asks Connectivity and gives up
    await call;
    expect(settled).toBeInstanceOf(NetworkError);
    expect(server.connections()).toBe(1);
    expect(connectivity.status()).toMatchObject({
      state: 'offline',
      lastError: expect.stringMatching(/reset/),
    });
  });

  test('a failure reported by another caller makes the change feed probe at once, and its success turns it online', async () => {
    const clock = manualClock();
    const t0 = clock.now();
    const connectivity = new Connectivity(clock, silentLogger());
    const syncs: number[] = [];
    const never = new Promise<never>(() => undefined);
    const feed = new ChangeFeed({
      api: {
        subscribe: () => never,
        renew: () => never,
        unsubscribe: () => Promise.resolve(),
        waitForNotification: () => never,
      },
      sync: () => {
        syncs.push(clock.now() - t0);
        return Promise.resolve();
      },
      connectivity,
      clock,
      logger: silentLogger(),
      useChannel: false,
    });
    feed.start();
    cleanups.push(() => feed.stop());
    await clock.advance(5000);
    expect(syncs).toEqual([0]); // the next poll is 120 s away
    connectivity.reportFailure(new NetworkError('connect ECONNREFUSED', 'unreachable')); // e.g. a read
    expect(connectivity.online).toBe(false);
    await clock.advance(0);
    expect(syncs).toEqual([0, 5000]);
    expect(connectivity.online).toBe(true);
  });

  test('offline, a read of bytes an open handle does not have fails at once without a request', async () => {
    const base = dirs.make();
    const api = new FakeFileSyncApi();
    const id = api.addFile(api.rootId, 'cold.bin', Buffer.alloc(512 * 1024, 7));
    const logger = silentLogger();
    const store = MetadataStore.open(path.join(base, 'meta.sqlite'), { logger });
    cleanups.push(() => store.close());
    await new TreeSync({ api, store, logger }).initialSync();
    const cache = await ContentCache.open({
      dir: path.join(base, 'content'),
      store,
      maxBytes: 1 << 30,
      logger,
    });
    const connectivity = new Connectivity(manualClock(), logger);
    const hydrator = new Hydrator({ api, store, cache, logger, connectivity });
    cleanups.push(() => hydrator.close());
    const handle = await hydrator.open(store.getItem(id)!); // online: opened without touching the network
    cleanups.push(() => handle.close());
    connectivity.reportFailure(new NetworkError('connect ECONNREFUSED', 'unreachable'));
    const before = api.calls.downloads.length;
    await expect(readInto(handle, Buffer.alloc(4096), 4096, 0)).rejects.toBeInstanceOf(OfflineError);
    expect(api.calls.downloads.length).toBe(before);
  });
});
