// E7 change enumeration over real HTTP: FullData paging (nested and flat) over a nested tree, token verdicts
// (NoChanges, CurrentSyncTokenOnly), IncrementalChanges paging with tombstones and re-emitted ancestors.
import type { RunningServer } from '../../src/server';
import { Store } from '../../src/server/store';
import { type Entry, readPage } from './page-reader';
import { Harness, get, sfs, libraryDir } from './server-harness';

const TREE = {
  'a/a1/deep/f1.txt': 'one',
  'a/f2.txt': 'two',
  'a/a2': null,
  'b/f3.txt': 'three',
  'b/ü ñ/g h.txt': 'four',
  'c.txt': 'five',
  empty: null,
};

interface Page {
  status: string | null;
  token: string | null;
  hasMore: string | null;
  entries: Entry[];
  rootId: string;
}

async function changes(srv: RunningServer, max: number, token?: string, flat = false): Promise<Page> {
  const q = `RootFolder?Filter=changes&InlineBlobs=false&MaxItemCount=${max}&View=SkyDriveSync`;
  const res = await get(
    sfs(srv, token === undefined ? q : `${q}&SyncToken=${token}`),
    flat ? { 'X-ResponseStructure': 'Flat' } : {},
  );
  expect(res.status).toBe(200);
  const { root, entries } = readPage(await res.text());
  return {
    status: res.headers.get('x-syncstatus'),
    token: res.headers.get('x-synctoken'),
    hasMore: res.headers.get('x-hasmoredata'),
    entries,
    rootId: root.children.find((c) => c.name === 'ResourceID')?.text ?? '',
  };
}

async function allPages(srv: RunningServer, max: number, flat: boolean, token?: string): Promise<Page[]> {
  const pages: Page[] = [];
  let tok = token;
  for (let i = 0; i < 100; i++) {
    const p = await changes(srv, max, tok, flat);
    pages.push(p);
    tok = p.token ?? undefined;
    if (p.hasMore !== 'True') return pages;
  }
  throw new Error('enumeration did not finish in 100 pages');
}

describe('E7 change enumeration', () => {
  const h = new Harness();
  let srv: RunningServer;
  let dataDir: string;
  let everything: Entry[];

  beforeEach(async () => {
    dataDir = await h.tempDir();
    srv = await h.start({ dataDir, seedDir: await h.seed(TREE) });
    const one = await changes(srv, 1000, undefined, true);
    expect(one.hasMore).toBe('False');
    everything = one.entries;
  });
  afterEach(() => h.cleanup());

  test('one big page lists the whole seeded tree once, folders before their contents', () => {
    expect(everything.map((e) => e.path).sort()).toEqual(
      [
        'a',
        'a/a1',
        'a/a1/deep',
        'a/a1/deep/f1.txt',
        'a/a2',
        'a/f2.txt',
        'b',
        'b/f3.txt',
        'b/ü ñ',
        'b/ü ñ/g h.txt',
        'c.txt',
        'empty',
      ]
        .map((p) => `/RootFolder/${p}`)
        .sort(),
    );
  });

  test.each([
    ['nested', false],
    ['flat', true],
  ])(
    'FullData paged by MaxItemCount=2 (%s): every item delivered, parents first, ancestors present',
    async (_m, flat) => {
      const pages = await allPages(srv, 2, flat);
      expect(pages.length).toBe(Math.ceil(everything.length / 2));
      const delivered = new Map<string, number>(); // id → page of first appearance
      const rootId = pages[0]!.rootId;
      pages.forEach((p, i) => {
        expect(p.status).toBe('FullData');
        expect(p.hasMore).toBe(i === pages.length - 1 ? 'False' : 'True');
        const seenHere = new Set<string>();
        let fresh = 0;
        for (const e of p.entries) {
          // The parent is the root, or was delivered on an earlier page, or earlier on this one.
          expect(e.parentId === rootId || delivered.has(e.parentId) || seenHere.has(e.parentId)).toBe(true);
          if (!flat) expect(e.enclosing).toBe(e.parentId);
          if (!delivered.has(e.id)) {
            delivered.set(e.id, i);
            fresh++;
          }
          seenHere.add(e.id);
        }
        expect(fresh).toBeLessThanOrEqual(2);
        if (flat) expect(p.entries.length).toBeLessThanOrEqual(2);
      });
      expect([...delivered.keys()].sort()).toEqual(everything.map((e) => e.id).sort());
      // Documents are never repeated; in flat mode nothing is.
      const all = pages.flatMap((p) => p.entries);
      const docs = all.filter((e) => e.kind === 'Document');
      expect(new Set(docs.map((d) => d.id)).size).toBe(docs.length);
      if (flat) expect(all.length).toBe(everything.length);
      else expect(all.length).toBeGreaterThan(everything.length); // ancestors re-emitted as containers
      // The final token is current: asking again says NoChanges and echoes it.
      const last = pages[pages.length - 1]!;
      const again = await changes(srv, 2, last.token!);
      expect(again.status).toBe('NoChanges');
      expect(again.token).toBe(last.token);
      expect(again.entries).toEqual([]);
    },
  );

  test.each([
    ['garbage', 'not-a-token'],
    [
      'another list',
      '4;%234;%231;3;00000000-1111-2222-3333-444444444444;638766798720000000;1;%23;%23;%230;%23',
    ],
  ])('a token for %s gets CurrentSyncTokenOnly with no items and no token', async (_n, tokenTemplate) => {
    const p = await changes(srv, 10, tokenTemplate);
    expect(p.status).toBe('CurrentSyncTokenOnly');
    expect(p.token).toBeNull();
    expect(p.entries).toEqual([]);
  });

  test('the 3; token form of the spec example is accepted', async () => {
    const [final] = (await allPages(srv, 1000, true)).slice(-1);
    const m = /;(\d+);(\d+);%23;%23;%230;%23$/.exec(final!.token!)!;
    const v3 = `3;%234;%231;3;${srv.listId.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-')};${m[1]};${m[2]};%23;%23;%234`;
    const p = await changes(srv, 10, v3);
    expect(p.status).toBe('NoChanges');
  });

  test('IncrementalChanges: latest state per item, tombstones, ancestors re-sent before children, paged', async () => {
    const [final] = (await allPages(srv, 1000, true)).slice(-1);
    const byPath = new Map(everything.map((e) => [e.path, e]));
    const id = (p: string): string => byPath.get(`/RootFolder/${p}`)!.id;
    const store = new Store(libraryDir(dataDir));
    try {
      const t = Date.parse('2025-03-05T00:00:00Z');
      store.renameOrMove(id('c.txt'), { parentId: id('empty') }, t); // c.txt moves into empty...
      store.renameOrMove(id('c.txt'), { name: 'c2.txt' }, t + 1000); // ...changes twice: reported once...
      store.renameOrMove(id('empty'), { name: 'full' }, t + 2000); // ...and its folder is renamed afterwards
      store.remove(id('a/a1'), t + 3000); // a folder with a subtree
    } finally {
      store.close();
    }
    const pages = await allPages(srv, 1, true, final!.token!);
    expect(pages.every((p) => p.status === 'IncrementalChanges')).toBe(true);
    const flat = pages.flatMap((p) => p.entries);
    const full = flat.filter((e) => e.id === id('empty'));
    expect(full[0]!.name).toBe('full');
    const c = flat.filter((e) => e.id === id('c.txt'));
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ name: 'c2.txt', parentId: id('empty'), path: '/RootFolder/full/c2.txt' });
    // The renamed folder changed after c.txt, yet comes before it on the same page.
    const cPage = pages.find((p) => p.entries.some((e) => e.id === id('c.txt')))!;
    expect(cPage.entries.map((e) => e.id)).toEqual([id('empty'), id('c.txt')]);
    const tombstones = flat
      .filter((e) => e.deleted)
      .map((e) => e.id)
      .sort();
    expect(tombstones).toEqual([id('a/a1'), id('a/a1/deep'), id('a/a1/deep/f1.txt')].sort());
    const again = await changes(srv, 1, pages[pages.length - 1]!.token!);
    expect(again.status).toBe('NoChanges');
  });
});
