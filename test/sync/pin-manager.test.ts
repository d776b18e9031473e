// The pin manager and `spfs free`'s selection in process: the real reference server over HTTP on 127.0.0.1 (remote
// edits through its admin endpoint), the real SpClient, real SQLite and a real content cache in temp dirs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContentCache } from '../../src/cache/content-cache';
import { CacheFullError } from '../../src/cache/errors';
import { MetadataStore, type StoredItem } from '../../src/cache/metadata-store';
import { SpClient } from '../../src/protocol/sp-client';
import type { RunningServer } from '../../src/server';
import { systemClock } from '../../src/shared/clock';
import type { ItemId } from '../../src/shared/ids';
import { Connectivity, OfflineError } from '../../src/sync/connectivity';
import { freeContent } from '../../src/sync/free-content';
import { Hydrator, readInto } from '../../src/sync/hydrator';
import { PinManager } from '../../src/sync/pin-manager';
import { TreeSync } from '../../src/sync/tree-sync';
import { itemAtPath } from '../../src/sync/upload-status';
import { adminPost } from '../helpers/admin-endpoint';
import { eventually } from '../helpers/eventually';
import { capturingLogger } from '../helpers/temp-dirs';
import { Harness, USER } from '../server/server-harness';

const KIB = 1024;
const ADMIN_TOKEN = 'pin-manager-test-admin-token';
const WAIT_MS = 20_000;

const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

interface Rig {
  srv: RunningServer;
  store: MetadataStore;
  cache: ContentCache;
  hydrator: Hydrator;
  pins: PinManager;
  sync: TreeSync;
  connectivity: Connectivity;
  requestLog: string;
  at(p: string): StoredItem;
  admin(body: unknown): Promise<unknown>;
  verified(p: string): boolean;
  downloads(): number;
}

async function rig(
  seed: Record<string, string | Buffer | null>,
  maxBytes = 64 * 1024 * KIB,
  downloadBytesPerSecond?: number,
): Promise<Rig> {
  const seedDir = await harness.seed(seed);
  const work = await harness.tempDir('spfs-pins-');
  const requestLog = path.join(work, 'requests.jsonl');
  const srv = await harness.start({
    seedDir,
    requestLogFile: requestLog,
    adminToken: ADMIN_TOKEN,
    ...(downloadBytesPerSecond ? { faults: { downloadBytesPerSecond } } : {}),
  });
  const api = await SpClient.connect({
    url: srv.siteUrl,
    credentials: { user: USER.name, password: USER.password },
  });
  closers.push(() => api.close());
  const { logger } = capturingLogger();
  const store = MetadataStore.open(path.join(work, 'meta.sqlite'), { logger });
  closers.push(() => store.close());
  const cache = await ContentCache.open({ dir: path.join(work, 'content'), store, maxBytes, logger });
  const connectivity = new Connectivity(systemClock, logger);
  const hydrator = new Hydrator({ api, store, cache, logger, connectivity });
  closers.push(() => hydrator.close());
  const sync = new TreeSync({ api, store, logger });
  await sync.initialSync();
  const pins = new PinManager({ store, hydrator, logger, connectivity, retryMs: 200 });
  closers.push(() => pins.stop());
  store.onItemsChanged((ids) => pins.itemsChanged(ids));
  pins.start();
  const at = (p: string): StoredItem => {
    let item = store.getItem(store.rootId()!);
    for (const seg of p.split('/').filter(Boolean)) item = item && store.getChild(item.id, seg);
    if (item === undefined) throw new Error(`no item at ${p}`);
    return item;
  };
  const port = new URL(srv.siteUrl).port;
  return {
    srv,
    store,
    cache,
    hydrator,
    pins,
    sync,
    connectivity,
    requestLog,
    at,
    admin: (body) => adminPost(port, ADMIN_TOKEN, '/changes', body),
    verified: (p) => {
      const item = at(p);
      return store.cacheIndex.get(item.id, item.etag)?.verified === true;
    },
    downloads: () =>
      fs.existsSync(requestLog)
        ? fs
            .readFileSync(requestLog, 'utf8')
            .split('\n')
            .filter((l) => l.toLowerCase().includes('download.aspx')).length
        : 0,
  };
}

const allHydrated = (r: Rig, roots: ItemId[]) => (): true | undefined => {
  const p = r.pins.progress(roots);
  return p.filesDone === p.files ? true : undefined;
};

describe('PinManager (real server, real SQLite)', () => {
  it('pinning a folder flags every descendant and hydrates every document without opening it', async () => {
    const r = await rig({
      'Keep/a.txt': bytes(10 * KIB, 1),
      'Keep/Sub/b.txt': bytes(20 * KIB, 2),
      'Keep/Sub/Deeper/c.txt': bytes(30 * KIB, 3),
      'Other/d.txt': bytes(5 * KIB, 4),
    });
    const keep = r.at('/Keep');
    expect(r.downloads()).toBe(0);
    r.pins.setPinned(keep.id, true);
    for (const p of ['/Keep', '/Keep/Sub', '/Keep/Sub/Deeper', '/Keep/a.txt', '/Keep/Sub/Deeper/c.txt'])
      expect(r.store.pins.isPinned(r.at(p).id)).toBe(true);
    expect(r.store.pins.isPinned(r.at('/Other/d.txt').id)).toBe(false);
    // What `spfs status` shows as pinned files: the three documents, not the three folders.
    expect(r.store.pins.count()).toBe(3);
    await eventually(allHydrated(r, [keep.id]), 'every document under /Keep hydrated', WAIT_MS);
    const p = r.pins.progress([keep.id]);
    expect(p).toMatchObject({ files: 3, filesDone: 3, bytes: 60 * KIB, bytesDone: 60 * KIB, failed: [] });
    expect(r.verified('/Keep/Sub/Deeper/c.txt')).toBe(true);
    expect(r.verified('/Other/d.txt')).toBe(false);
    // The cached file holds the server's bytes.
    const c = r.at('/Keep/Sub/Deeper/c.txt');
    const h = await r.hydrator.open(c);
    const out = Buffer.alloc(c.size);
    expect(await readInto(h, out, c.size, 0)).toBe(c.size);
    await h.close();
    expect(out.equals(bytes(30 * KIB, 3))).toBe(true);

    r.pins.setPinned(keep.id, false);
    expect(r.store.pins.count()).toBe(0);
    expect(r.verified('/Keep/a.txt')).toBe(true); // unpinning keeps the content (now evictable)
  });

  it('new items inherit a pinned folder: remote creates are hydrated, local creates and moves in are flagged', async () => {
    const r = await rig({ 'Keep/a.txt': 'a', 'Out/Moved/m.txt': 'moved in', 'Out/x.txt': 'x' });
    const keep = r.at('/Keep');
    r.pins.setPinned(keep.id, true);
    await eventually(allHydrated(r, [keep.id]), '/Keep hydrated', WAIT_MS);

    await r.admin({ op: 'create-file', path: 'Keep/late.txt', content: 'added on the server' });
    await r.admin({ op: 'move', path: 'Out/Moved', to: 'Keep' });
    await r.sync.sync();
    expect(r.store.pins.isPinned(r.at('/Keep/late.txt').id)).toBe(true);
    // A folder moved into a pinned one is pinned with everything under it.
    expect(r.store.pins.isPinned(r.at('/Keep/Moved').id)).toBe(true);
    expect(r.store.pins.isPinned(r.at('/Keep/Moved/m.txt').id)).toBe(true);
    await eventually(() => r.verified('/Keep/late.txt') || undefined, 'the new file hydrated', WAIT_MS);
    await eventually(() => r.verified('/Keep/Moved/m.txt') || undefined, 'the moved-in file', WAIT_MS);
    expect(r.verified('/Out/x.txt')).toBe(false);

    // Moving out keeps the flag (as OneDrive keeps "always keep on this device").
    await r.admin({ op: 'move', path: 'Keep/Moved', to: 'Out' });
    await r.sync.sync();
    expect(r.store.pins.isPinned(r.at('/Out/Moved/m.txt').id)).toBe(true);

    // A local create (the write path's own upsert) in a pinned folder is pinned in the same statement.
    const now = Date.now();
    r.store.putLocalItem({
      id: 'local-0123456789abcdef0123456789abcdef' as ItemId,
      parentId: keep.id,
      name: 'made-here.txt',
      kind: 'document',
      size: 0,
      etag: '' as StoredItem['etag'],
      createdMs: now,
      modifiedMs: now,
    });
    expect(r.store.pins.isPinned('local-0123456789abcdef0123456789abcdef' as ItemId)).toBe(true);
  });

  it('a remote edit of a pinned file is hydrated in the background (the new version, without an open)', async () => {
    const r = await rig({ 'Keep/doc.txt': 'version one' });
    const keep = r.at('/Keep');
    r.pins.setPinned(keep.id, true);
    await eventually(allHydrated(r, [keep.id]), '/Keep hydrated', WAIT_MS);
    const before = r.at('/Keep/doc.txt');
    await r.admin({ op: 'edit-file', path: 'Keep/doc.txt', content: 'version two, longer' });
    await r.sync.sync();
    const after = r.at('/Keep/doc.txt');
    expect(after.etag).not.toBe(before.etag);
    await eventually(() => r.verified('/Keep/doc.txt') || undefined, 'the new version verified', WAIT_MS);
    const h = await r.hydrator.open(after);
    const out = Buffer.alloc(after.size);
    await readInto(h, out, after.size, 0);
    await h.close();
    expect(out.toString()).toBe('version two, longer');
  });

  it('pinned content is never evicted under cache pressure; the bound then fails naming the pinned bytes', async () => {
    const seed: Record<string, Buffer> = {};
    for (let i = 0; i < 4; i++) seed[`Keep/k${i}.bin`] = bytes(64 * KIB, i);
    for (let i = 0; i < 8; i++) seed[`Other/o${i}.bin`] = bytes(64 * KIB, 10 + i);
    // Room for the 4 pinned files and 2 more.
    const r = await rig(seed, 6 * 64 * KIB + 16 * KIB);
    const keep = r.at('/Keep');
    r.pins.setPinned(keep.id, true);
    await eventually(allHydrated(r, [keep.id]), '/Keep hydrated', WAIT_MS);
    for (let i = 0; i < 8; i++) {
      const o = r.at(`/Other/o${i}.bin`);
      const h = await r.hydrator.open(o);
      const out = Buffer.alloc(o.size);
      await readInto(h, out, o.size, 0);
      await h.close();
      await r.hydrator.settled(o.id, o.etag);
    }
    for (let i = 0; i < 4; i++) expect(r.verified(`/Keep/k${i}.bin`)).toBe(true);
    const otherCached = Array.from({ length: 8 }, (_, i) => r.verified(`/Other/o${i}.bin`)).filter(Boolean);
    expect(otherCached.length).toBeLessThanOrEqual(2); // the unpinned ones were evicted instead
    expect(r.cache.usedBytes()).toBeLessThanOrEqual(r.cache.maxBytes);
    // More than the bound minus the pinned bytes cannot be reserved; the error names the cause.
    let err: unknown;
    try {
      r.cache.reserve(3 * 64 * KIB);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CacheFullError);
    expect((err as Error).message).toMatch(/bytes pinned \(spfs unpin releases them\)/);
  });

  it('pins beyond the cache bound: the file that does not fit is reported with the cause and retried', async () => {
    const r = await rig({ 'Keep/a.bin': bytes(64 * KIB, 1), 'Keep/b.bin': bytes(64 * KIB, 2) }, 100 * KIB);
    const keep = r.at('/Keep');
    r.pins.setPinned(keep.id, true);
    const failed = await eventually(
      () => {
        const p = r.pins.progress([keep.id]);
        return p.filesDone === 1 && p.failed.length === 1 ? p.failed[0] : undefined;
      },
      'one pinned file hydrated, the other failed',
      WAIT_MS,
    );
    expect(failed?.error).toMatch(/content cache is full: .*bytes pinned \(spfs unpin releases them\)/);
    // Unpinning the one that fits makes room: the retry hydrates the other.
    const done = r.verified('/Keep/a.bin') ? '/Keep/a.bin' : '/Keep/b.bin';
    const other = done === '/Keep/a.bin' ? '/Keep/b.bin' : '/Keep/a.bin';
    r.pins.setPinned(r.at(done).id, false);
    await eventually(() => r.verified(other) || undefined, `${other} hydrated on retry`, WAIT_MS);
    expect(r.verified(done)).toBe(false); // evicted: no longer pinned
  });

  it('offline, pinned files wait for the server instead of failing, and hydrate once it is back', async () => {
    const r = await rig({ 'Keep/a.txt': 'aaa', 'Keep/b.txt': 'bbb' });
    r.connectivity.reportFailure(new OfflineError('test: the server is unreachable'));
    const keep = r.at('/Keep');
    r.pins.setPinned(keep.id, true);
    // Give the loop every chance to try (it must not): a full round of queued work and timers.
    await new Promise((res) => setTimeout(res, 300));
    const p = r.pins.progress([keep.id]);
    expect(p).toMatchObject({ filesDone: 0, offline: true, failed: [] });
    expect(r.downloads()).toBe(0);
    r.connectivity.reportSuccess();
    await eventually(allHydrated(r, [keep.id]), '/Keep hydrated after coming back online', WAIT_MS);
  });

  it('stop() ends a pinned download after the chunk in flight instead of finishing the file', async () => {
    const MIB = 1024 * KIB;
    // Paced at 8 MiB/s: the 32 MiB file takes 4 s, its first 8 MiB chunk 1 s.
    const r = await rig({ 'Keep/big.bin': bytes(32 * MIB, 9) }, 64 * MIB, 8 * MIB);
    const big = r.at('/Keep/big.bin');
    r.pins.setPinned(big.id, true);
    await eventually(
      () => (r.cache.presentRanges(big.id, big.etag).totalBytes() > 0 ? true : undefined),
      'the first bytes of big.bin',
      WAIT_MS,
      20,
    );
    await r.pins.stop();
    await r.hydrator.settled(big.id, big.etag);
    const present = r.cache.presentRanges(big.id, big.etag).totalBytes();
    expect(present).toBeGreaterThan(0); // what arrived is kept for the next mount
    expect(present).toBeLessThan(big.size);
    expect(r.verified('/Keep/big.bin')).toBe(false);
  });

  it('pins survive a restart: a new manager on the same database resumes what was not hydrated', async () => {
    const r = await rig({ 'Keep/a.txt': 'resume me' });
    r.connectivity.reportFailure(new OfflineError('test: the server is unreachable'));
    r.pins.setPinned(r.at('/Keep').id, true);
    await r.pins.stop(); // "the daemon stopped" before anything was fetched
    r.connectivity.reportSuccess();
    expect(r.verified('/Keep/a.txt')).toBe(false);
    const { logger } = capturingLogger();
    const next = new PinManager({ store: r.store, hydrator: r.hydrator, logger });
    closers.push(() => next.stop());
    next.start();
    await eventually(() => r.verified('/Keep/a.txt') || undefined, 'the pinned file after restart', WAIT_MS);
  });
});

describe('itemAtPath', () => {
  it('resolves library paths case-insensitively, "/" to the root, and an unknown name to undefined', async () => {
    const r = await rig({ 'Docs/Report.txt': 'r' });
    expect((await itemAtPath(r.store, '/'))?.id).toBe(r.store.rootId());
    expect((await itemAtPath(r.store, '/docs/REPORT.txt'))?.id).toBe(r.at('/Docs/Report.txt').id);
    expect(await itemAtPath(r.store, '/Docs/missing.txt')).toBeUndefined();
    expect(await itemAtPath(r.store, '/Docs/Report.txt/below')).toBeUndefined();
  });
});

describe('freeContent (real server, real SQLite)', () => {
  it('drops exactly the clean, unpinned, unopened content; keeps pending uploads, open and pinned files', async () => {
    const r = await rig({
      'F/clean1.bin': bytes(8 * KIB, 1),
      'F/Sub/clean2.bin': bytes(8 * KIB, 2),
      'F/open.bin': bytes(8 * KIB, 3),
      'F/pinned.bin': bytes(8 * KIB, 4),
      'F/pending.bin': bytes(8 * KIB, 5),
      'G/elsewhere.bin': bytes(8 * KIB, 6),
    });
    const names = [
      'F/clean1.bin',
      'F/Sub/clean2.bin',
      'F/open.bin',
      'F/pinned.bin',
      'F/pending.bin',
      'G/elsewhere.bin',
    ];
    for (const n of names) {
      const it = r.at(`/${n}`);
      const h = await r.hydrator.open(it);
      await readInto(h, Buffer.alloc(it.size), it.size, 0);
      await h.close();
      await r.hydrator.settled(it.id, it.etag);
      expect(r.verified(`/${n}`)).toBe(true);
    }
    r.pins.setPinned(r.at('/F/pinned.bin').id, true);
    const pending = r.at('/F/pending.bin');
    r.store.journal.recordContent(pending, pending.etag);
    const open = r.at('/F/open.bin');
    const handle = await r.hydrator.open(open);
    const used = r.cache.usedBytes();
    const perFile = r.store.cacheIndex.get(r.at('/F/clean1.bin').id, r.at('/F/clean1.bin').etag)!.allocated;

    const report = freeContent(
      { store: r.store, cache: r.cache, pins: r.pins, openLocally: () => false },
      [r.at('/F').id],
      false,
    );
    expect(report.files).toBe(2);
    expect(report.bytes).toBe(2 * perFile);
    expect(r.cache.usedBytes()).toBe(used - 2 * perFile);
    expect(report.kept.map((k) => `${k.path} ${k.reason}`).sort()).toEqual([
      '/F/open.bin open',
      '/F/pending.bin pending upload',
      '/F/pinned.bin pinned',
    ]);
    expect(r.verified('/F/clean1.bin')).toBe(false);
    expect(r.verified('/F/Sub/clean2.bin')).toBe(false);
    expect(r.verified('/G/elsewhere.bin')).toBe(true); // outside the path
    await handle.close();

    // --unpin: the pinned file is unpinned and freed; the pending upload still stays.
    const again = freeContent(
      { store: r.store, cache: r.cache, pins: r.pins, openLocally: () => false },
      [r.at('/F').id],
      true,
    );
    expect(again.kept.map((k) => `${k.path} ${k.reason}`)).toEqual(['/F/pending.bin pending upload']);
    expect(again.files).toBe(2); // pinned.bin and open.bin, closed now
    expect(r.store.pins.isPinned(r.at('/F/pinned.bin').id)).toBe(false);
    expect(r.verified('/F/pinned.bin')).toBe(false);
  });
});
