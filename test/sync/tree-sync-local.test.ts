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
