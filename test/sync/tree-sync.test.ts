// TreeSync against the in-memory FileSyncApi: paging, tokens, verdicts, name screening (pure logic).
import * as path from 'node:path';
import { MetadataStore } from '../../src/cache/metadata-store';
import type { ChangesQuery } from '../../src/protocol/types';
import type { ItemId } from '../../src/shared/ids';
import { TreeSync } from '../../src/sync/tree-sync';
import { FakeFileSyncApi } from '../helpers/fake-file-sync-api';
import { capturingLogger, TempDirs } from '../helpers/temp-dirs';

const dirs = new TempDirs();
const stores: MetadataStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  dirs.cleanup();
});

function setup(api = new FakeFileSyncApi()) {
  const { logger, lines } = capturingLogger();
  const store = MetadataStore.open(path.join(dirs.make(), 'meta.sqlite'), { logger });
  stores.push(store);
  const sync = new TreeSync({ api, store, logger, crawlConcurrency: 2 });
  return { api, store, sync, lines };
}

/** The local tree as sorted `path` strings (folders end with /). */
function tree(store: MetadataStore): string[] {
  const out: string[] = [];
  const walk = (id: ItemId, prefix: string): void => {
    for (const c of store.listChildren(id)) {
      out.push(`${prefix}${c.name}${c.kind === 'folder' ? '/' : ''}`);
      if (c.kind === 'folder') walk(c.id, `${prefix}${c.name}/`);
    }
  };
  walk(store.rootId()!, '/');
  return out.sort();
}

function sample(api: FakeFileSyncApi) {
  const docs = api.addFolder(api.rootId, 'Docs');
  const deep = api.addFolder(docs, 'Deep');
  const a = api.addFile(docs, 'a.txt', 'alpha');
  const b = api.addFile(deep, 'b.txt', 'beta');
  const c = api.addFile(api.rootId, 'c.txt', 'gamma');
  const empty = api.addFolder(api.rootId, 'Empty');
  return { docs, deep, a, b, c, empty };
}

/** The local tree `sample` makes, once synced. */
const SAMPLE_TREE = ['/Docs/', '/Docs/Deep/', '/Docs/Deep/b.txt', '/Docs/a.txt', '/Empty/', '/c.txt'];

const tokens = (calls: ChangesQuery[]) => calls.map((q) => q.token ?? null);

describe('TreeSync (in-memory FileSyncApi)', () => {
  it('first run: crawls every folder, pages FullData, saves the token only with the last page', async () => {
    const { api, store, sync } = setup();
    const ids = sample(api);
    api.itemCount = 2;
    const result = await sync.initialSync();
    expect(result).toEqual({ mode: 'full', items: 7 });
    expect(tree(store)).toEqual(SAMPLE_TREE);
    expect(api.calls.children).toBe(1); // the root's answer nests every folder (Depth 8)
    expect(api.calls.changes.length).toBe(3); // 6 items, 2 per page
    expect(api.calls.changes.every((q) => q.maxItemCount === 2)).toBe(true);
    // Bulk enumeration leaves the pacer's foreground headroom to reads.
    expect(api.calls.changes.every((q) => q.priority === 'background')).toBe(true);
    expect(store.getItem(ids.a)).toMatchObject({
      size: 5,
      kind: 'document',
      downloadUrl: `fake://download/${ids.a}`,
    });
    // The saved token is the one the last page carried.
    const last = await api.changes({ maxItemCount: 100 });
    expect(store.getSyncState()?.token).toBe(last.token);
    expect(store.getSyncState()?.quota).toEqual({ state: 'Normal', used: 1234, granted: 1_000_000 });
  });

  it('the crawl asks for 8 levels of folders per request and crawls the last level next', async () => {
    const { api, store, sync } = setup();
    const chain: string[] = [];
    let parent = api.rootId;
    for (let i = 0; i < 10; i++) {
      parent = api.addFolder(parent, `L${i}`);
      chain.push(`L${i}`);
    }
    api.addFile(parent, 'deepest.txt', 'x');
    await sync.initialSync();
    // The root's answer holds L0..L8; L8 came without its sub-folder, so it is asked next (and answers L9 with
    // everything under it): two requests where one per folder took eleven.
    expect(api.calls.children).toBe(2);
    expect(tree(store)).toContain(`/${chain.join('/')}/deepest.txt`);
  });

  it('a folder whose nested answer the server refuses (400, subtree too large) is crawled level by level', async () => {
    const { api, store, sync } = setup();
    sample(api);
    api.maxNestedItems = 2; // the root's subtree of folders (Docs, Deep, Empty) is over it; Docs's (Deep) is not
    await sync.initialSync();
    // root refused, root at Depth 0 (Docs, Empty), then Docs and Empty nested again (Deep comes with Docs)
    expect(api.calls.children).toBe(4);
    expect(tree(store)).toEqual(SAMPLE_TREE);
  });

  it('a full pass asks for pages of at most 100 items whatever the policy allows (each page holds the event loop)', async () => {
    const { api, sync } = setup();
    sample(api);
    api.itemCount = 1000;
    await sync.initialSync();
    expect(api.calls.changes.map((q) => q.maxItemCount)).toEqual([100]);
  });

  it('a failure on a middle page leaves no token, and the next run completes with a full pass', async () => {
    const { api, store, sync } = setup();
    sample(api);
    api.itemCount = 2;
    const real = api.changes.bind(api);
    let n = 0;
    api.changes = (q) =>
      ++n === 2 ? Promise.reject(new Error('connection reset (simulated fault)')) : real(q);
    await expect(sync.initialSync()).rejects.toThrow('simulated fault');
    expect(store.getSyncState()?.token).toBeNull();
    api.changes = real;
    expect((await sync.initialSync()).mode).toBe('full');
    expect(store.getSyncState()?.token).not.toBeNull();
    expect(store.countItems()).toBe(7);
  });

  it('incremental: applies renames, moves, content changes and deletes by ResourceID', async () => {
    const { api, store, sync } = setup();
    const ids = sample(api);
    await sync.initialSync();
    api.update(ids.a, { name: 'A-renamed.txt', parentId: api.rootId });
    api.update(ids.c, { content: Buffer.from('gamma v2') });
    api.remove(ids.docs);
    const added = api.addFile(ids.empty, 'new.bin', 'new');
    const before = store.getSyncState()!.token;
    const n = api.calls.changes.length;
    const result = await sync.sync();
    expect(result.mode).toBe('incremental');
    expect(tokens(api.calls.changes)[n]).toBe(before);
    expect(api.calls.changes.length - n).toBe(2); // a, c, Docs, Deep, b, new.bin: two pages of 3
    expect(tree(store)).toEqual(['/A-renamed.txt', '/Empty/', '/Empty/new.bin', '/c.txt']);
    expect(store.getItem(ids.a)?.parentId).toBe(api.rootId);
    expect(store.getItem(ids.c)).toMatchObject({ size: 8, etag: api.etagOf(ids.c) });
    expect(store.getItem(ids.b)).toBeUndefined();
    expect(store.getItem(added)).toBeDefined();
    expect(store.getSyncState()!.token).not.toBe(before);
    // Nothing changed since: NoChanges keeps everything.
    expect((await sync.sync()).mode).toBe('incremental');
    expect(tree(store)).toHaveLength(4);
    // The policy read by the full pass serves every change sync after it (no request per sync).
    expect(api.calls.policy).toBe(1);
  });

  it('CurrentSyncTokenOnly restarts without a token; ResyncNeeded runs a full pass that drops vanished items', async () => {
    const { api, store, sync, lines } = setup();
    const ids = sample(api);
    await sync.initialSync();
    api.nextStatus = 'CurrentSyncTokenOnly';
    const n = api.calls.changes.length;
    expect((await sync.sync()).mode).toBe('full');
    expect(tokens(api.calls.changes.slice(n))[0]).not.toBeNull();
    expect(tokens(api.calls.changes.slice(n))[1]).toBeNull();
    // The server forgets the token's history: the removal is only seen as an absence in the full pass.
    api.remove(ids.c);
    api.nextStatus = 'ResyncNeeded';
    expect((await sync.sync()).mode).toBe('full');
    expect(store.getItem(ids.c)).toBeUndefined();
    expect(lines.some((l) => l.action === 'ResetReupload')).toBe(true);
  });

  it('skips unsafe names and orphans with a warning naming the ResourceID, and never writes them', async () => {
    const { api, store, sync, lines } = setup();
    const bad = api.addFolder(api.rootId, '..');
    const under = api.addFile(bad, 'inside.txt', 'x');
    const slash = api.addFile(api.rootId, 'a/b', 'x');
    const ctrl = api.addFile(api.rootId, 'bell\u0007', 'x');
    const ok = api.addFile(api.rootId, 'ok.txt', 'fine');
    const result = await sync.initialSync();
    expect(result.items).toBe(2); // root + ok.txt
    expect(store.getItem(ok)).toBeDefined();
    for (const id of [bad, under, slash, ctrl]) {
      expect(store.getItem(id)).toBeUndefined();
      expect(lines.some((l) => l.level === 40 && l.id === id && typeof l.reason === 'string')).toBe(true);
    }
    // A later rename of a shown item to an unsafe name removes it locally.
    api.update(ok, { name: 'bad/name' });
    await sync.sync();
    expect(store.getItem(ok)).toBeUndefined();
  });

  it('a change page claiming more without moving the token (endless paging): applied once, then the pass stops', async () => {
    const { api, store, sync } = setup();
    await sync.initialSync();
    const added = api.addFile(api.rootId, 'new.txt', 'n');
    const honest = api.changes.bind(api);
    let asked = 0;
    api.changes = async (q) => {
      asked++;
      const page = await honest(q);
      return { ...page, hasMore: true, ...(q.token !== undefined ? { token: q.token } : {}) };
    };
    await expect(sync.sync()).rejects.toThrow(/X-SyncToken did not move/);
    expect(asked).toBe(1);
    expect(store.getItem(added)).toBeDefined(); // the page's items were applied
  });

  it('a folder listing claiming more with the same page again (a folder of 10^9 children): the crawl stops', async () => {
    const { api, sync } = setup();
    sample(api);
    const honest = api.children.bind(api);
    let asked = 0;
    api.children = async (folderId, q) => {
      asked++;
      return { ...(await honest(folderId, { ...q, offset: 0 })), hasMore: true };
    };
    await expect(sync.initialSync()).rejects.toThrow(/brings no new item/);
    expect(asked).toBeLessThan(10);
  });

  it('keeps one of two server items whose names differ only by case', async () => {
    const { api, store, sync, lines } = setup();
    const first = api.addFile(api.rootId, 'Read.me', '1');
    const second = api.addFile(api.rootId, 'READ.ME', '2');
    await sync.initialSync();
    expect(store.getChild(api.rootId, 'read.me')?.id).toBe(first);
    expect(store.getItem(second)).toBeUndefined();
    expect(lines.some((l) => l.id === second && l.holder === first)).toBe(true);
  });

  it('a database of another library is replaced by a full pass', async () => {
    const { store, sync } = setup();
    await sync.initialSync();
    const other = new FakeFileSyncApi();
    other.addFile(other.rootId, 'theirs.txt', 't');
    const result = await new TreeSync({ api: other, store, logger: capturingLogger().logger }).initialSync();
    expect(result).toEqual({ mode: 'full', items: 2 });
    expect(store.rootId()).toBe(other.rootId);
    expect(tree(store)).toEqual(['/theirs.txt']);
  });
});
