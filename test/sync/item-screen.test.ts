// screenItems against a real SQLite store: hostile pages (the cases of src/server/hostile-responses.ts in process;
// test/reliability/hostile-server.test.ts serves the same cases to a real daemon) leave the tree a tree.
import * as path from 'node:path';
import { MetadataStore } from '../../src/cache/metadata-store';
import type { RemoteItem } from '../../src/protocol/types';
import { asETag, asItemId, type ItemId } from '../../src/shared/ids';
import { screenItems, toStoredItem } from '../../src/sync/item-screen';
import { capturingLogger, TempDirs } from '../helpers/temp-dirs';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

const id = (n: number): ItemId => asItemId(n.toString(16).padStart(32, '0'));
const ROOT = id(1);
const DOCS = id(2);

function item(n: number, parent: ItemId, name: string, kind: 'folder' | 'document' = 'folder'): RemoteItem {
  return {
    kind,
    id: id(n),
    parentId: parent,
    name,
    path: '',
    etag: asETag(`e${n}`),
    created: new Date(0),
    modified: new Date(0),
    size: kind === 'folder' ? 0 : 1,
    deleted: false,
  };
}

function setup() {
  const { logger, lines } = capturingLogger();
  const store = MetadataStore.open(path.join(dirs.make(), 'meta.sqlite'), { logger });
  const root = { ...item(1, id(999), 'RootFolder') };
  store.applyBatch([toStoredItem(root), toStoredItem(item(2, ROOT, 'Docs'))], [], {
    libraryKey: 'lib',
    listId: 'list',
    rootId: ROOT,
    token: null,
  });
  const ctx = { store, rootId: ROOT, logger };
  const warned = (n: number): boolean => lines.some((l) => l.level === 40 && l.id === id(n));
  return { store, ctx, warned, close: () => store.close() };
}

describe('screenItems: hostile pages', () => {
  test('a cycle of two (a new folder in Docs, then Docs moved into it): the move is refused, Docs stays', () => {
    const { ctx, warned, close } = setup();
    const page = screenItems([item(3, DOCS, 'inner'), item(2, id(3), 'Docs')], ctx);
    expect(page.upserts.map((u) => u.id)).toEqual([id(3)]);
    expect(page.deletes).toEqual([]); // Docs is not dropped for the lie
    expect(warned(2)).toBe(true);
    close();
  });

  test('a longer cycle through stored folders is refused too', () => {
    const { ctx, store, warned, close } = setup();
    store.applyBatch([toStoredItem(item(3, DOCS, 'A')), toStoredItem(item(4, id(3), 'B'))], []);
    const page = screenItems([item(2, id(4), 'Docs')], ctx);
    expect(page.upserts).toEqual([]);
    expect(warned(2)).toBe(true);
    close();
  });

  test('a folder that is its own parent', () => {
    const { ctx, warned, close } = setup();
    expect(screenItems([item(5, id(5), 'self')], ctx).upserts).toEqual([]);
    expect(warned(5)).toBe(true);
    close();
  });

  test('one ResourceID twice with different contents: neither is trusted, nor what hangs under it', () => {
    const { ctx, warned, close } = setup();
    const page = screenItems(
      [
        item(6, ROOT, 'dup-folder'),
        item(7, id(6), 'dup-child.txt', 'document'),
        item(8, ROOT, 'dup-holder'),
        item(6, id(8), 'dup-doc.txt', 'document'),
      ],
      ctx,
    );
    expect(page.upserts.map((u) => u.name)).toEqual(['dup-holder']);
    expect(warned(6)).toBe(true);
    expect(warned(7)).toBe(true);
    close();
  });

  test('the same item twice, identical, is stored once without a warning', () => {
    const { ctx, warned, close } = setup();
    const page = screenItems([item(9, ROOT, 'twice'), item(9, ROOT, 'twice')], ctx);
    expect(page.upserts.map((u) => u.name)).toEqual(['twice']);
    expect(warned(9)).toBe(false);
    close();
  });

  test('an ordinary move between folders is still applied', () => {
    const { ctx, store, close } = setup();
    store.applyBatch([toStoredItem(item(3, ROOT, 'Other'))], []);
    expect(screenItems([item(2, id(3), 'Docs')], ctx).upserts.map((u) => u.parentId)).toEqual([id(3)]);
    close();
  });
});
