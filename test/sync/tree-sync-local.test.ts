// TreeSync with pending local changes (a LocalChanges set standing in for the upload journal): remote edits, deletes
// and resyncs never overwrite or drop them; foreign edits are reported, our own echoes are not.
import * as path from 'node:path';
import { MetadataStore } from '../../src/cache/metadata-store';
import type { RemoteItem } from '../../src/protocol/types';
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

async function setup() {
  const api = new FakeFileSyncApi();
  const { logger } = capturingLogger();
  const store = MetadataStore.open(path.join(dirs.make(), 'meta.sqlite'), { logger });
  stores.push(store);
  const pending = new Set<ItemId>();
  const conflicts: Array<[ItemId, RemoteItem | undefined]> = [];
  const sync = new TreeSync({
    api,
    store,
    logger,
    localChanges: { hasPendingChange: (id) => pending.has(id), pendingIds: () => pending },
    ownIdentity: 'me',
    onRemoteConflict: (id, r) => conflicts.push([id, r]),
  });
  const docs = api.addFolder(api.rootId, 'Docs');
  const a = api.addFile(docs, 'a.txt', 'alpha');
  const b = api.addFile(docs, 'b.txt', 'beta');
  await sync.initialSync();
  return { api, store, sync, pending, conflicts, docs, a, b };
}

describe('TreeSync with pending local changes', () => {
  it('a remote edit of a pending item keeps the local row and reports a conflict; others apply', async () => {
    const { api, store, sync, pending, conflicts, a, b } = await setup();
    const localEtag = store.getItem(a)!.etag;
    pending.add(a);
    api.update(a, { content: Buffer.from('remote edit') });
    api.update(b, { content: Buffer.from('beta 2') });
    await sync.sync();
    expect(store.getItem(a)!.etag).toBe(localEtag);
    expect(store.getItem(b)!.etag).toBe(api.etagOf(b));
    expect(conflicts.map(([id]) => id)).toEqual([a]);
    expect(conflicts[0]![1]?.etag).toBe(api.etagOf(a));
  });

  it('a remote delete of a pending item, or of its folder, keeps them', async () => {
    const { api, store, sync, pending, conflicts, docs, a, b } = await setup();
    pending.add(a);
    api.remove(docs);
    await sync.sync();
    expect(store.getItem(a)).toBeDefined();
    expect(store.getItem(docs)).toBeDefined();
    expect(store.getItem(b)).toBeUndefined(); // its own tombstone: nothing local to keep
    expect(conflicts.map(([id, r]) => [id, r])).toEqual([[a, undefined]]);
  });

  it('a page of many deletes meeting many pending items walks each pending item up once, not once per delete', async () => {
    const { api, store, sync, pending, conflicts, docs } = await setup();
    const deep = api.addFolder(api.addFolder(docs, 'Deep1'), 'Deep2');
    const other = api.addFolder(api.rootId, 'Other');
    const kept: ItemId[] = [];
    const gone: ItemId[] = [];
    for (let i = 0; i < 150; i++) {
      kept.push(api.addFile(deep, `p${i}.txt`, 'pending'));
      gone.push(api.addFile(other, `g${i}.txt`, 'gone'));
    }
    await sync.sync();
    for (const id of kept) pending.add(id);
    for (const id of gone) api.remove(id);
    const getItem = jest.spyOn(store, 'getItem');
    await sync.sync();
    expect(gone.filter((id) => store.getItem(id) !== undefined)).toEqual([]);
    expect(kept.filter((id) => store.getItem(id) === undefined)).toEqual([]);
    expect(conflicts).toEqual([]);
    // Asking, for each of 150 deletes, whether any of 150 pending items lies below it took 150 x 150 walks up a
    // four-level tree (90,000 lookups; with a backlog of thousands it held the event loop for minutes). Now each of
    // the 50 pages (3 items each, the fake's policy) walks the 150 pending items up once: about 8,000.
    expect(getItem.mock.calls.length).toBeLessThan(20_000);
  });

  it('ResyncNeeded: the full pass keeps pending items even when the server no longer lists them', async () => {
    const { api, store, sync, pending, docs, a, b } = await setup();
    pending.add(a);
    api.remove(a);
    api.remove(b);
    api.nextStatus = 'ResyncNeeded';
    const r = await sync.sync();
    expect(r.mode).toBe('full');
    expect(store.getItem(a)).toBeDefined();
    expect(store.getItem(docs)).toBeDefined();
    expect(store.getItem(b)).toBeUndefined();
  });

  it('without pending changes a content change replaces the version and a rename keeps the etag', async () => {
    const { api, store, sync, a, b, docs } = await setup();
    const etagB = store.getItem(b)!.etag;
    api.update(a, { content: Buffer.from('new bytes!') });
    api.update(b, { name: 'renamed.txt', parentId: api.rootId });
    await sync.sync();
    expect(store.getItem(a)).toMatchObject({ etag: api.etagOf(a), size: 10 });
    expect(store.getChild(api.rootId, 'renamed.txt')?.id).toBe(b);
    expect(store.getChild(docs, 'b.txt')).toBeUndefined();
    expect(store.getItem(b)!.etag).toBe(api.etagOf(b));
    expect(etagB).not.toBe(api.etagOf(b)); // the fake bumps the version on renames too
  });
});
