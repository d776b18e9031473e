import * as fs from 'node:fs';
import * as path from 'node:path';
import { ByteRanges } from '../../src/cache/byte-ranges';
import { cacheFileName, ContentCache } from '../../src/cache/content-cache';
import { MetadataStore, type StoredItem } from '../../src/cache/metadata-store';
import { asETag, documentETag, type ETag, type ItemId } from '../../src/shared/ids';
import { newId } from '../helpers/fake-file-sync-api';
import { TempDirs } from '../helpers/temp-dirs';

const dirs = new TempDirs();
const stores: MetadataStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  dirs.cleanup();
});

/** A store with a root and the given documents, and a cache over a fresh directory. */
async function setup(maxBytes = 1_000_000, docs: Array<{ id: ItemId; etag: ETag }> = []) {
  const base = dirs.make();
  const store = MetadataStore.open(path.join(base, 'meta.sqlite'));
  stores.push(store);
  const root = newId();
  const items: StoredItem[] = docs.map((d, i) => ({
    id: d.id,
    parentId: root,
    name: `doc${i}`,
    kind: 'document',
    size: 100,
    etag: d.etag,
    createdMs: 0,
    modifiedMs: 0,
  }));
  store.applyBatch(items, [], { libraryKey: 'k', listId: newId(), rootId: root, token: null });
  const dir = path.join(base, 'content');
  let now = 1000;
  const clock = { now: () => now++, sleep: () => Promise.resolve() };
  const cache = await ContentCache.open({ dir, store, maxBytes, clock });
  return { store, cache, dir, clock };
}

function version(id: ItemId, v = 1) {
  return { id, etag: documentETag(id, v) };
}

async function fillWith(cache: ContentCache, id: ItemId, etag: ETag, data: Buffer): Promise<string> {
  const fill = await cache.beginFill(id, etag, data.length);
  await fill.write(data, 0);
  return fill.commit();
}

describe('ContentCache', () => {
  it('commits a fill: lookup gives a verified file with the bytes, and the item is marked cached', async () => {
    const v = version(newId());
    const { cache, store, dir } = await setup(1_000_000, [v]);
    expect(cache.lookup(v.id, v.etag)).toBeUndefined();
    const fill = await cache.beginFill(v.id, v.etag, 10);
    await fill.write(Buffer.from('56789'), 5);
    expect(fill.contiguousBytes).toBe(0);
    expect(fill.firstMissing(0, 10)).toBe(0);
    await fill.write(Buffer.from('01234'), 0);
    expect(fill.contiguousBytes).toBe(10);
    const final = await fill.commit();
    expect(cache.lookup(v.id, v.etag)).toBe(final);
    expect(fs.readFileSync(final, 'utf8')).toBe('0123456789');
    expect(path.basename(final)).toBe(cacheFileName(v.id, v.etag));
    expect(fs.readdirSync(dir)).toEqual([path.basename(final)]);
    expect(store.cacheIndex.get(v.id, v.etag)).toMatchObject({ verified: true, size: 10 });
    // Another version of the same item is a miss.
    expect(cache.lookup(v.id, documentETag(v.id, 2))).toBeUndefined();
  });

  it('abort removes the temp file and records nothing', async () => {
    const v = version(newId());
    const { cache, store, dir } = await setup(1_000_000, [v]);
    const fill = await cache.beginFill(v.id, v.etag, 4);
    await fill.write(Buffer.from('ab'), 0);
    expect(fs.existsSync(fill.tempPath)).toBe(true);
    await fill.abort();
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(cache.lookup(v.id, v.etag)).toBeUndefined();
    expect(store.cacheIndex.get(v.id, v.etag)).toBeUndefined();
  });

  it('names files from the ResourceID and ETag only, and refuses ids that are not 32 hex', () => {
    const id = newId();
    expect(cacheFileName(id, asETag('"{X},7"'))).toMatch(new RegExp(`^${id}\\.7\\.[0-9a-f]{12}\\.bin$`));
    expect(cacheFileName(id, asETag(id))).toMatch(/\.x\.[0-9a-f]{12}\.bin$/);
    expect(() => cacheFileName('../../etc/passwd' as ItemId, asETag('"a",1'))).toThrow();
  });

  it('evicts least recently used entries to stay under maxBytes, skipping open ones', async () => {
    const [a, b, c] = [version(newId()), version(newId()), version(newId())];
    const { cache } = await setup(250, [a, b, c]);
    const data = Buffer.alloc(100, 1);
    await fillWith(cache, a.id, a.etag, data);
    await fillWith(cache, b.id, b.etag, data);
    const openA = cache.openVerified(a.id, a.etag)!; // a is the oldest but open
    await fillWith(cache, c.id, c.etag, data);
    expect(cache.lookup(a.id, a.etag)).toBeDefined();
    expect(cache.lookup(b.id, b.etag)).toBeUndefined();
    expect(cache.lookup(c.id, c.etag)).toBeDefined();
    expect(cache.usedBytes()).toBe(200);
    openA.release();
  });

  it('start-up sweep removes temp files, unindexed files, rows without files and stale versions', async () => {
    const [a, b, gone] = [version(newId()), version(newId()), version(newId())];
    const { cache, store, dir } = await setup(1_000_000, [a, b, gone]);
    const pathA = await fillWith(cache, a.id, a.etag, Buffer.from('aaaa'));
    const pathB = await fillWith(cache, b.id, b.etag, Buffer.from('bbbb'));
    await fillWith(cache, gone.id, gone.etag, Buffer.from('gggg'));
    const interrupted = await cache.beginFill(a.id, documentETag(a.id, 2), 4); // a crash mid-fill leaves this
    const unindexed = path.join(dir, cacheFileName(newId(), asETag('"z",1')));
    fs.writeFileSync(unindexed, 'crash between rename and row');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not ours');
    fs.rmSync(pathB);
    store.applyBatch([], [gone.id]); // the item left the library
    const reopened = await ContentCache.open({ dir, store, maxBytes: 1_000_000 });
    expect(fs.existsSync(interrupted.tempPath)).toBe(false);
    expect(fs.existsSync(unindexed)).toBe(false);
    expect(fs.readdirSync(dir).sort()).toEqual([path.basename(pathA), 'notes.txt'].sort());
    expect(reopened.lookup(a.id, a.etag)).toBe(pathA);
    expect(store.cacheIndex.get(b.id, b.etag)).toBeUndefined();
    expect(store.cacheIndex.get(gone.id, gone.etag)).toBeUndefined();
    await interrupted.abort(); // closes its descriptor
  });
});

describe('ByteRanges', () => {
  it('merges overlapping and adjacent spans and reports the first gap', () => {
    const r = new ByteRanges();
    r.add(10, 20);
    r.add(30, 40);
    expect(r.firstMissing(0, 50)).toBe(0);
    expect(r.firstMissing(10, 35)).toBe(20);
    expect(r.covers(12, 18)).toBe(true);
    r.add(0, 10);
    r.add(20, 30);
    expect(r.contiguousFromZero()).toBe(40);
    expect(r.covers(0, 40)).toBe(true);
    expect(r.firstMissing(0, 41)).toBe(40);
  });
});
