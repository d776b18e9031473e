// The upload journal on a real SQLite database: what it records per change, and that server data never overwrites,
// deletes or sweeps an item with pending local changes.
import { join } from 'node:path';
import { MetadataStore, type StoredItem } from '../../src/cache/metadata-store';
import { isLocalId } from '../../src/cache/upload-journal';
import type { ETag, ItemId } from '../../src/shared/ids';
import { TempDirs } from '../helpers/temp-dirs';

const ROOT = 'a'.repeat(32) as ItemId;
const LIST = 'f'.repeat(32) as ItemId;

function doc(id: string, name: string, etag = '"1"', parentId: ItemId = ROOT): StoredItem {
  return {
    id: id as ItemId,
    parentId,
    name,
    kind: 'document',
    size: 3,
    etag: etag as ETag,
    createdMs: 1,
    modifiedMs: 1,
  };
}

describe('UploadJournal', () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.cleanup());
  let store: MetadataStore;
  beforeEach(() => {
    store = MetadataStore.open(join(dirs.make(), 'm.db'));
    const root: StoredItem = { ...doc(ROOT, 'RootFolder', '"r"', LIST), kind: 'folder' };
    store.applyBatch([root, doc('b'.repeat(32), 'a.txt')], [], {
      libraryKey: 'k',
      listId: LIST,
      rootId: ROOT,
      token: 't',
    });
  });
  afterEach(() => store.close());

  it('records new content with the base ETag and keeps the first base across later saves', () => {
    const item = doc('b'.repeat(32), 'a.txt', '"1"');
    const first = store.journal.recordContent(item);
    expect(first).toMatchObject({ baseEtag: '"1"', content: true, seq: 1, remoteName: 'a.txt' });
    const second = store.journal.recordContent({ ...item, etag: '"2"' as ETag, size: 9 });
    expect(second).toMatchObject({ baseEtag: '"1"', seq: 2, size: 9 });
    expect(store.journal.hasPendingChange(item.id)).toBe(true);
    expect(store.journal.pendingIds()).toEqual(new Set([item.id]));
    expect(store.journal.complete(item.id, 1)).toBe(false);
    expect(store.journal.complete(item.id, 2)).toBe(true);
    expect(store.journal.hasPendingChange(item.id)).toBe(false);
  });

  it('keeps a sent create across a kill: a delete of the local item then stays as a delete of what it made', () => {
    const local = { ...doc('local-1', 'new.txt'), id: 'local-1' as ItemId };
    store.putLocalItem(local);
    store.journal.recordCreate(local);
    // Never sent: the delete just drops the row.
    store.journal.recordDelete(local);
    expect(store.journal.get(local.id)).toBeUndefined();
    store.journal.recordCreate(local);
    store.journal.markSent(local.id, ROOT, 'new.txt');
    store.journal.recordContent({ ...local, size: 7 }); // later saves keep it
    expect(store.journal.get(local.id)?.sentTo).toEqual({ parentId: ROOT, name: 'new.txt' });
    store.journal.recordDelete(local);
    expect(store.journal.get(local.id)).toMatchObject({
      deleted: true,
      sentTo: { parentId: ROOT, name: 'new.txt' },
    });
  });

  it('keeps server data off a name where a create of ours was sent, and looks the item up again once it settled', () => {
    const local = { ...doc('local-2', 'x.txt'), id: 'local-2' as ItemId };
    store.putLocalItem({ ...local, name: 'moved.txt' }); // renamed after the create went up
    store.journal.recordCreate(local);
    store.journal.markSent(local.id, ROOT, 'x.txt');
    const orphan = doc('c'.repeat(32), 'X.TXT', '"9"');
    expect(store.applyBatch([orphan], []).upserted).toBe(0);
    expect(store.getItem(orphan.id)).toBeUndefined();
    expect(store.takeMissed()).toEqual([]);
    store.journal.forget(local.id);
    expect(store.takeMissed()).toEqual([orphan.id]);
  });

  it('remembers where the server has a moved item', () => {
    const item = doc('b'.repeat(32), 'b.txt');
    const e = store.journal.recordMove(item, { parentId: ROOT, name: 'a.txt' });
    expect(e).toMatchObject({ remoteParent: ROOT, remoteName: 'a.txt', content: false });
    expect(
      store.journal.recordMove({ ...item, name: 'c.txt' }, { parentId: ROOT, name: 'b.txt' }),
    ).toMatchObject({ remoteName: 'a.txt' });
  });

  it('forgets a local item deleted before upload, and records the delete of a server item', () => {
    const local = doc('local-' + '1'.repeat(32), 'n.txt');
    expect(isLocalId(local.id)).toBe(true);
    store.journal.recordCreate(local);
    store.journal.recordDelete(local);
    expect(store.journal.hasPendingChange(local.id)).toBe(false);
    const server = doc('b'.repeat(32), 'a.txt');
    store.journal.recordDelete(server);
    expect(store.journal.get(server.id)).toMatchObject({ deleted: true, baseEtag: '"1"' });
  });

  it('counts failures and skips a permanent one until the item changes again', () => {
    const item = doc('b'.repeat(32), 'a.txt');
    const e = store.journal.recordContent(item);
    store.journal.fail(item.id, e.seq, 'InvalidName', true, 0);
    expect(store.journal.get(item.id)).toMatchObject({
      permanent: true,
      failure: 'InvalidName',
      attempts: 1,
    });
    expect(store.journal.totals()).toEqual({ files: 1, bytes: 3, failures: 1, permanent: 1 });
    expect(store.journal.recordContent(item)).toMatchObject({ permanent: false, failure: undefined });
  });

  it('lists at most N entries for spfs status, failing ones first, then oldest first', () => {
    const items = ['c', 'd', 'e', 'f'].map((c, i) => doc(c.repeat(32), `${c}.txt`, `"${i}"`));
    const seqs = items.map((i) => store.journal.recordContent(i).seq);
    store.journal.fail(items[2]!.id, seqs[2]!, 'HTTP 503', false, 0);
    expect(store.journal.listed(3).map((e) => e.itemId)).toEqual([items[2]!.id, items[0]!.id, items[1]!.id]);
    expect(store.journal.listed(10)).toHaveLength(4);
  });

  it('server data never overwrites, deletes or sweeps an item with pending changes', () => {
    const id = 'b'.repeat(32) as ItemId;
    store.putLocalItem({ ...doc(id, 'a.txt'), size: 42 });
    store.journal.recordContent({ ...doc(id, 'a.txt'), size: 42 });
    store.applyBatch([{ ...doc(id, 'a.txt', '"7"'), size: 1 }], []);
    expect(store.getItem(id)?.size).toBe(42);
    store.applyBatch([], [id]);
    expect(store.getItem(id)).toBeDefined();
    const local = doc('local-' + '2'.repeat(32), 'new.txt');
    store.putLocalItem(local);
    store.beginFullPass();
    store.endFullPass({ token: 't2' });
    expect(store.getItem(id)).toBeDefined();
    expect(store.getItem(local.id)).toBeDefined();
  });

  it('re-keys an item, its children and its journal row in one step', () => {
    const folder: StoredItem = { ...doc('local-' + '3'.repeat(32), 'F'), kind: 'folder' };
    const child = doc('local-' + '4'.repeat(32), 'c.txt', '"0"', folder.id);
    store.putLocalItem(folder);
    store.putLocalItem(child);
    store.journal.recordCreate(folder);
    const server = 'c'.repeat(32) as ItemId;
    store.rekeyItem(folder.id, server);
    expect(store.getItem(server)?.name).toBe('F');
    expect(store.getChild(server, 'c.txt')?.id).toBe(child.id);
    expect(store.journal.hasPendingChange(server)).toBe(true);
    expect(store.journal.hasPendingChange(folder.id)).toBe(false);
  });
});
