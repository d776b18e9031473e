// Lazy listing while the first full pass is still running: the real server (request log counted), client, SQLite
// store and filesystem core. The FullData pass is held back by a gate on the change enumeration until released.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ContentCache } from '../../src/cache/content-cache';
import { ListingState } from '../../src/cache/listing-state';
import { MetadataStore } from '../../src/cache/metadata-store';
import { SpClient } from '../../src/protocol/sp-client';
import type { ChangePage, ChangesQuery, FileSyncApi } from '../../src/protocol/types';
import { silentLogger } from '../../src/shared/logger';
import { FolderLister } from '../../src/sync/folder-lister';
import { Hydrator } from '../../src/sync/hydrator';
import { TreeSync, type SyncResult } from '../../src/sync/tree-sync';
import { FsError } from '../../src/vfs/errors';
import type { SpfsFilesystem } from '../../src/vfs/spfs-filesystem';
import { buildWritePath } from '../../src/cli/write-path';
import { systemClock } from '../../src/shared/clock';
import { ForegroundActivity } from '../../src/sync/foreground-activity';
import { Harness, USER } from '../server/server-harness';

const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
let fs: SpfsFilesystem;
let store: MetadataStore;
let state: ListingState;
let requestLog: string;
let releaseFullData: () => void = () => undefined;
let firstPass: Promise<SyncResult>;

const SEED = {
  'A/one.txt': '1',
  'A/two.txt': '22',
  'A/Sub/deep.txt': '333',
  'B/b.txt': 'bbbb',
  'top.txt': 'top',
};

/** E6 listings that include documents (the folder crawl asks FoldersOnly=true). */
function lazyListings(): string[] {
  return readFileSync(requestLog, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { path: string; query: string })
    .filter((e) => e.path.includes('/Items/') && !e.query.includes('FoldersOnly=true'))
    .map((e) => e.path.slice(e.path.lastIndexOf('/') + 1));
}

beforeAll(async () => {
  const seedDir = await harness.seed(SEED);
  const work = await harness.tempDir('spfs-lister-');
  requestLog = path.join(work, 'requests.log');
  const srv = await harness.start({
    dataDir: path.join(work, 'server'),
    seedDir,
    requestLogFile: requestLog,
  });
  const client = await SpClient.connect({
    url: srv.siteUrl,
    credentials: { user: USER.name, password: USER.password },
  });
  closers.push(() => client.close());
  // The change enumeration waits for the gate: the crawl is done, documents come only from lazy listings.
  const gate = new Promise<void>((r) => (releaseFullData = r));
  const gatedChanges = async (q: ChangesQuery): Promise<ChangePage> => {
    await gate;
    return client.changes(q);
  };
  const api = new Proxy(client, {
    get(target, prop) {
      if (prop === 'changes') return gatedChanges;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as FileSyncApi;
  const logger = silentLogger();
  const dbFile = path.join(work, 'meta.db');
  store = MetadataStore.open(dbFile, { logger });
  closers.push(() => store.close());
  state = ListingState.open(dbFile);
  closers.push(() => state.close());
  let crawled: () => void = () => undefined;
  const crawlDone = new Promise<void>((r) => (crawled = r));
  firstPass = new TreeSync({ api, store, logger }).initialSync();
  // The crawl has finished when both top folders are stored (the pass then waits at the gate).
  const poll = setInterval(() => {
    if (store.countItems() >= 4) crawled();
  }, 10);
  await crawlDone;
  clearInterval(poll);
  const cache = await ContentCache.open({
    dir: path.join(work, 'content'),
    store,
    maxBytes: 1 << 30,
    logger,
  });
  const hydrator = new Hydrator({ api: client, store, cache, logger });
  closers.push(() => hydrator.close());
  const lister = new FolderLister({ api: client, store, state, logger });
  const w = buildWritePath({
    cacheDir: work,
    store,
    cache,
    hydrator,
    api: client,
    logger,
    clock: systemClock,
    activity: new ForegroundActivity(),
    lister,
    storeVersion: () => state.version(),
    pins: { setPinned: (id, pinned) => store.setPinned(id, pinned) },
  });
  closers.push(() => w.stop());
  fs = w.fs;
});

afterAll(async () => {
  releaseFullData();
  await firstPass.catch(() => undefined);
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

describe('lazy listing during the first full pass', () => {
  it('the folder crawl stored folders only; no folder counts as complete yet', () => {
    const rootId = store.rootId();
    expect(rootId).toBeDefined();
    const names = store.listChildren(rootId!).map((i) => i.name);
    expect(names.sort()).toEqual(['A', 'B']);
    expect(state.isComplete(rootId!)).toBe(false);
  });

  it('readdir lists an incomplete folder once over Items/{id}, concurrent callers sharing the request', async () => {
    const before = lazyListings().length;
    const [a1, a2] = await Promise.all([fs.readdir('/A'), fs.readdir('/A')]);
    expect(a1.map((e) => e.name).sort()).toEqual(['Sub', 'one.txt', 'two.txt']);
    expect(a2.map((e) => e.name).sort()).toEqual(['Sub', 'one.txt', 'two.txt']);
    expect(lazyListings().length - before).toBe(1);
    const a = store.getChild(store.rootId()!, 'A')!;
    expect(state.isComplete(a.id)).toBe(true);
    await fs.readdir('/A');
    expect(lazyListings().length - before).toBe(1); // complete now: answered from SQLite
  });

  it('getattr of a name in an incomplete folder lists that folder first', async () => {
    const before = lazyListings();
    const attr = await fs.getattr('/A/Sub/deep.txt');
    expect(attr.size).toBe(3);
    const after = lazyListings();
    expect(after.length - before.length).toBe(1);
    expect(after[after.length - 1]).toBe(store.getChild(store.getChild(store.rootId()!, 'A')!.id, 'Sub')!.id);
  });

  it('a name absent from a listed folder is ENOENT without another request', async () => {
    await fs.readdir('/B');
    const before = lazyListings().length;
    const err = await fs.getattr('/B/missing.txt').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FsError);
    expect((err as FsError).errno).toBe('ENOENT');
    expect(lazyListings().length).toBe(before);
  });

  it('a folder made here during the pass is answered from SQLite: no listing request for a local id', async () => {
    await fs.readdir('/B');
    const before = lazyListings().length;
    await fs.mkdir('/B/made here');
    await fs.release(await fs.create('/B/made here/new.txt'));
    await fs.mkdir('/B/made here/inner');
    expect((await fs.readdir('/B/made here')).map((e) => e.name).sort()).toEqual(['inner', 'new.txt']);
    await fs.rename('/B/made here/new.txt', '/B/made here/inner/moved.txt');
    await expect(fs.rmdir('/B/made here/inner')).rejects.toMatchObject({ errno: 'ENOTEMPTY' });
    expect(lazyListings().slice(before)).toEqual([]);
  });

  it('the FullData pass then fills the rest without duplicates and saves its token at the end', async () => {
    expect(store.getSyncState()?.token).toBeNull();
    releaseFullData();
    await firstPass;
    // root, A, A/Sub, B, five documents; and the two folders and the file made here (not uploaded yet)
    expect(store.countItems()).toBe(1 + 3 + 5 + 3);
    expect(store.getSyncState()?.token).not.toBeNull();
    expect(state.isComplete(store.rootId()!)).toBe(true);
    expect((await fs.readdir('/')).map((e) => e.name).sort()).toEqual(['A', 'B', 'top.txt']);
    expect((await fs.readdir('/B/made here/inner')).map((e) => e.name)).toEqual(['moved.txt']);
  });

  it('a cached lookup follows a store change of its item', async () => {
    expect((await fs.getattr('/top.txt')).size).toBe(3);
    const top = store.getChild(store.rootId()!, 'top.txt')!;
    store.applyBatch([{ ...top, size: 99, etag: `${top.etag}x` as typeof top.etag }], []);
    expect((await fs.getattr('/top.txt')).size).toBe(99);
  });
});
