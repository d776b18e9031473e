import * as path from 'node:path';
import { ListingState } from '../../src/cache/listing-state';
import { MetadataStore, type StoredItem } from '../../src/cache/metadata-store';
import { SCHEMA_VERSION } from '../../src/cache/schema';
import { asETag, type ItemId } from '../../src/shared/ids';
import { newId } from '../helpers/fake-file-sync-api';
import { capturingLogger, TempDirs } from '../helpers/temp-dirs';

const dirs = new TempDirs();
const stores: MetadataStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  dirs.cleanup();
});

function openStore(
  file = path.join(dirs.make(), 'meta.sqlite'),
  logger = capturingLogger().logger,
): MetadataStore {
  const s = MetadataStore.open(file, { logger });
  stores.push(s);
  return s;
}

function item(
  parentId: ItemId,
  name: string,
  kind: 'folder' | 'document' = 'document',
  id = newId(),
): StoredItem {
  return {
    id,
    parentId,
    name,
    kind,
    size: kind === 'document' ? 5 : 0,
    etag: asETag(`"${id},1"`),
    createdMs: 1,
    modifiedMs: 2,
  };
}

const LIST = newId();
function withRoot(store: MetadataStore): ItemId {
  const root = item(LIST, 'RootFolder', 'folder');
  store.applyBatch([root], [], { libraryKey: 'lib', listId: LIST, rootId: root.id, token: null });
  return root.id;
}

describe('MetadataStore', () => {
  it('creates the schema at the current version and reopens it with its data', () => {
    const file = path.join(dirs.make(), 'meta.sqlite');
    const a = MetadataStore.open(file);
    const root = withRoot(a);
    const doc = item(root, 'a.txt');
    a.applyBatch([{ ...doc, hash: 'h', downloadUrl: 'http://x/d', mimeType: 'text/plain' }], []);
    a.close();
    const b = openStore(file);
    expect(b.rootId()).toBe(root);
    expect(b.getItem(doc.id)).toEqual({
      ...doc,
      hash: 'h',
      downloadUrl: 'http://x/d',
      mimeType: 'text/plain',
    });
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(1);
  });

  it('upserts, renames and moves by ResourceID, and deletes whole subtrees', () => {
    const s = openStore();
    const root = withRoot(s);
    const dir = item(root, 'Docs', 'folder');
    const sub = item(dir.id, 'Sub', 'folder');
    const f = item(sub.id, 'f.txt');
    const g = item(root, 'g.txt');
    s.applyBatch([dir, sub, f, g], []);
    expect(s.countItems()).toBe(5);
    s.applyBatch([{ ...g, name: 'G2.txt', parentId: dir.id, etag: asETag('"g,2"') }], []);
    expect(s.getChild(root, 'g.txt')).toBeUndefined();
    expect(s.getChild(dir.id, 'g2.TXT')?.id).toBe(g.id);
    expect(s.listChildren(dir.id).map((c) => c.name)).toEqual(['G2.txt', 'Sub']);
    const r = s.applyBatch([], [sub.id]);
    expect(r.deleted).toBe(2);
    expect(s.getItem(f.id)).toBeUndefined();
    expect(s.countItems()).toBe(3);
  });

  it("never moves a folder's mtime back (our touch beats the server's coarser time of the same moment)", () => {
    const s = openStore();
    const root = withRoot(s);
    const dir = { ...item(root, 'Docs', 'folder'), modifiedMs: 5_000 };
    s.applyBatch([dir], []);
    s.putLocalItem({ ...dir, modifiedMs: 7_393 }); // a file created inside it
    s.putLocalItem({ ...dir, modifiedMs: 7_000 }); // the folder's upload result
    s.applyBatch([{ ...dir, modifiedMs: 7_000 }], []); // a change page
    expect(s.getItem(dir.id)?.modifiedMs).toBe(7_393);
    const f = { ...item(root, 'f.txt'), modifiedMs: 9_000 };
    s.applyBatch([f], []);
    s.applyBatch([{ ...f, modifiedMs: 8_000, etag: asETag('"f,2"') }], []); // files follow the server
    expect(s.getItem(f.id)?.modifiedMs).toBe(8_000);
  });

  it('finds children case-insensitively', () => {
    const s = openStore();
    const root = withRoot(s);
    const doc = item(root, 'Résumé.DOCX');
    s.applyBatch([doc], []);
    expect(s.getChild(root, 'résumé.docx')?.id).toBe(doc.id);
    expect(s.getChild(root, 'RÉSUMÉ.docx')?.id).toBe(doc.id);
    expect(s.getChild(root, 'resume.docx')).toBeUndefined();
  });

  it('saves the token atomically with its batch: an error mid-batch keeps the old token and items', () => {
    const s = openStore();
    const root = withRoot(s);
    const keep = item(root, 'keep.txt');
    s.applyBatch([keep], [], { token: 'T1' });
    const fresh = item(root, 'fresh.txt');
    // A row that violates the kind CHECK constraint makes SQLite throw after `fresh` was written in the transaction.
    const broken = { ...item(root, 'broken.txt'), kind: 'symlink' } as unknown as StoredItem;
    expect(() => s.applyBatch([fresh, broken], [keep.id], { token: 'T2' })).toThrow();
    expect(s.getSyncState()?.token).toBe('T1');
    expect(s.getItem(keep.id)).toBeDefined();
    expect(s.getItem(fresh.id)).toBeUndefined();
  });

  it('keeps the first of two siblings differing only by case and logs both ResourceIDs', () => {
    const { logger, lines } = capturingLogger();
    const s = openStore(undefined, logger);
    const root = withRoot(s);
    const first = item(root, 'Report.txt');
    const second = item(root, 'REPORT.TXT');
    const r = s.applyBatch([first, second], []);
    expect(r.skipped).toEqual([second.id]);
    expect(s.getChild(root, 'report.txt')?.id).toBe(first.id);
    expect(s.getItem(second.id)).toBeUndefined();
    const warn = lines.find((l) => l.id === second.id);
    expect(warn?.holder).toBe(first.id);
  });

  it('applies a batch that swaps two names in any order', () => {
    const s = openStore();
    const root = withRoot(s);
    const a = item(root, 'a');
    const b = item(root, 'b');
    s.applyBatch([a, b], []);
    s.applyBatch(
      [
        { ...a, name: 'b' },
        { ...b, name: 'a' },
      ],
      [],
    );
    expect(s.getChild(root, 'a')?.id).toBe(b.id);
    expect(s.getChild(root, 'b')?.id).toBe(a.id);
  });

  it('full pass: sweeps unseen items and saves the final token in the same transaction', () => {
    const s = openStore();
    const root = withRoot(s);
    const gone = item(root, 'gone.txt');
    const stays = item(root, 'stays.txt');
    const oldName = item(root, 'name.txt');
    s.applyBatch([gone, stays, oldName], [], { token: 'old' });
    s.beginFullPass();
    const replacement = item(root, 'NAME.txt'); // a new item took the name of one the server no longer has
    s.applyBatch([s.getItem(root)!, stays, replacement], []);
    expect(s.getSyncState()?.token).toBe('old');
    const r = s.endFullPass({ token: 'new' });
    expect(r.deleted).toBe(1);
    expect(s.getItem(gone.id)).toBeUndefined();
    expect(s.getItem(oldName.id)).toBeUndefined();
    expect(s.getChild(root, 'name.txt')?.id).toBe(replacement.id);
    expect(s.getSyncState()?.token).toBe('new');
    expect(s.countItems()).toBe(3);
  });

  it('a resync keeps every folder listed while its pass runs; a first pass, folders made here and re-keyed do too', () => {
    const file = path.join(dirs.make(), 'meta.sqlite');
    const s = openStore(file);
    const listing = ListingState.open(file);
    try {
      const root = withRoot(s);
      const old = item(root, 'old', 'folder');
      s.applyBatch([old], []);
      s.beginFullPass(); // the first pass: nothing is listed until it ends (or a folder is listed on demand)
      expect(listing.isComplete(old.id)).toBe(false);
      s.endFullPass({ token: 't1' }, [s.getItem(root)!, old]);
      const local = { ...item(root, 'made here', 'folder'), id: `local-${newId()}` as ItemId };
      s.putLocalItem(local);
      expect(listing.isComplete(local.id)).toBe(true); // the server has nothing in a folder it does not know
      // A resync: the pass starts over the completed tree and clears the token, as TreeSync's fullPass does.
      s.beginFullPass();
      s.applyBatch([s.getItem(root)!], [], { token: null });
      expect(listing.isComplete(root)).toBe(true);
      expect(listing.isComplete(old.id)).toBe(true);
      const assigned = newId();
      s.rekeyItem(local.id, assigned);
      expect(listing.isComplete(assigned)).toBe(true);
    } finally {
      listing.close();
    }
  });

  it('keeps quota and root in the sync state', () => {
    const s = openStore();
    const root = withRoot(s);
    s.applyBatch([], [], { quota: { state: 'Nearing', used: 90, granted: 100 } });
    expect(s.getSyncState()).toMatchObject({
      rootId: root,
      listId: LIST,
      quota: { state: 'Nearing', used: 90, granted: 100 },
    });
  });

  it('a page fetched before a local change (or an upload result) cannot undo it', () => {
    const s = openStore();
    const root = withRoot(s);
    const doc = item(root, 'doc.txt');
    const gone = item(root, 'gone.txt');
    const moved = item(root, 'old-name.txt');
    s.applyBatch([doc, gone, moved], [], { token: 't1' });
    const since = s.changeGeneration(); // a change enumeration starts here...
    // ...meanwhile our upload lands (new ETag, journal closed), a delete goes up, a rename goes up
    s.putLocalItem({ ...doc, etag: asETag(`"${doc.id},2"`), size: 9 });
    s.removeItem(gone.id);
    s.putLocalItem({ ...moved, name: 'new-name.txt' });
    // ...and the page, built before those reached the server, is applied afterwards
    s.applyBatch([doc, gone, moved], [], { token: 't2' }, since);
    expect(s.getItem(doc.id)?.etag).toBe(`"${doc.id},2"`);
    expect(s.getItem(gone.id)).toBeUndefined();
    expect(s.getItem(moved.id)?.name).toBe('new-name.txt');
    expect(s.getSyncState()?.token).toBe('t2');
    // A page fetched after the change applies as usual.
    s.applyBatch([{ ...doc, etag: asETag(`"${doc.id},3"`) }], [], undefined, s.changeGeneration());
    expect(s.getItem(doc.id)?.etag).toBe(`"${doc.id},3"`);
  });

  it('server data never re-inserts an item deleted locally while the delete is pending, nor touches a held item', () => {
    const s = openStore();
    const root = withRoot(s);
    const doc = item(root, 'doc.txt');
    const open = item(root, 'open.txt');
    s.applyBatch([doc, open], []);
    s.transaction(() => {
      s.removeItem(doc.id);
      s.journal.recordDelete(doc);
    });
    s.hold(open.id);
    const since = s.changeGeneration();
    s.applyBatch([doc, { ...open, name: 'renamed-remotely.txt' }], [], undefined, since);
    s.applyBatch([], [open.id], undefined, since);
    expect(s.getItem(doc.id)).toBeUndefined();
    expect(s.getItem(open.id)?.name).toBe('open.txt');
    s.unhold(open.id);
    expect(s.takeMissed()).toEqual([open.id]); // looked up again once the writer closed
  });

  it('the full pass keeps an item created here while it ran, though its pages never listed it', () => {
    const s = openStore();
    const root = withRoot(s);
    s.beginFullPass();
    const created = item(root, 'uploaded-during-pass.txt');
    s.putLocalItem(created); // our upload's result, re-keyed to the server's id
    s.applyBatch([s.getItem(root)!], []);
    s.endFullPass({ token: 'new' });
    expect(s.getItem(created.id)?.name).toBe('uploaded-during-pass.txt');
  });

  describe('announcing what changed under the kernel', () => {
    function listen(s: MetadataStore): Array<readonly ItemId[] | 'all'> {
      const heard: Array<readonly ItemId[] | 'all'> = [];
      s.onItemsChanged((ids) => heard.push(ids));
      return heard;
    }

    it('names exactly the items a batch added, renamed, edited or deleted; unchanged ones are not', () => {
      const s = openStore();
      const root = withRoot(s);
      const [kept, renamed, edited, deleted] = ['kept', 'renamed', 'edited', 'deleted'].map((n) =>
        item(root, n),
      );
      s.applyBatch([kept!, renamed!, edited!, deleted!], []);
      const heard = listen(s);
      const added = item(root, 'added');
      s.applyBatch(
        [kept!, { ...renamed!, name: 'renamed-2' }, { ...edited!, size: 9, etag: asETag('"e,2"') }, added],
        [deleted!.id],
      );
      expect(heard).toHaveLength(1);
      expect([...(heard[0] as ItemId[])].sort()).toEqual(
        [renamed!.id, edited!.id, deleted!.id, added.id].sort(),
      );
      s.applyBatch([kept!], []);
      expect(heard).toHaveLength(1);
    });

    it('names the folders whose listing a batch changed: adds, deletes, renames and both ends of a move, not edits', () => {
      const s = openStore();
      const root = withRoot(s);
      const [a, b] = ['A', 'B'].map((n) => item(root, n, 'folder'));
      const [edited, renamed, moved, deleted] = ['edited', 'renamed', 'moved', 'deleted'].map((n) =>
        item(a!.id, n),
      );
      s.applyBatch([a!, b!, edited!, renamed!, moved!, deleted!], []);
      const heard: Array<readonly ItemId[]> = [];
      s.onItemsChanged((_ids, folders) => heard.push(folders));
      s.applyBatch([{ ...edited!, size: 9, etag: asETag('"e,2"') }], []);
      expect(heard).toEqual([[]]); // an edit changes no listing
      s.applyBatch([{ ...renamed!, name: 'Renamed' }], []); // a case-only rename shows in the listing too
      s.applyBatch([{ ...moved!, parentId: b!.id }, item(b!.id, 'added')], [deleted!.id]);
      expect(heard.slice(1).map((f) => [...new Set(f)].sort())).toEqual([[a!.id], [a!.id, b!.id].sort()]);
    });

    it('a full pass that swept items announces all (what it removed was never named)', () => {
      const s = openStore();
      const root = withRoot(s);
      const gone = item(root, 'gone');
      s.applyBatch([gone], []);
      const heard = listen(s);
      s.beginFullPass();
      s.applyBatch([s.getItem(root)!], []);
      s.endFullPass({ token: 't2' });
      expect(heard).toEqual(['all']);
      expect(s.getItem(gone.id)).toBeUndefined();
    });

    it('an announcement made inside a transaction is heard only after it committed', async () => {
      const s = openStore();
      const root = withRoot(s);
      const doc = item(root, 'doc');
      s.applyBatch([doc], []);
      const heard: Array<{ ids: readonly ItemId[] | 'all'; name: string | undefined }> = [];
      s.onItemsChanged((ids) => heard.push({ ids, name: s.getItem(doc.id)?.name }));
      s.transaction(() => {
        s.putLocalItem({ ...doc, name: 'doc (conflict)' });
        s.announce([doc.id]);
        expect(heard).toEqual([]);
      });
      await Promise.resolve();
      expect(heard).toEqual([{ ids: [doc.id], name: 'doc (conflict)' }]);
    });
  });
});
