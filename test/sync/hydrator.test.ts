// Hydrator against the in-memory FileSyncApi: range waiting, single flight, far reads, verification, resume and
// abandonment, driven by gates in the fake's stream so nothing depends on timing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContentCache } from '../../src/cache/content-cache';
import { MetadataStore, type StoredItem } from '../../src/cache/metadata-store';
import type { ItemId } from '../../src/shared/ids';
import { HydrationError, IntegrityError } from '../../src/sync/errors';
import { Hydrator, type HydratorOptions } from '../../src/sync/hydrator';
import { TreeSync } from '../../src/sync/tree-sync';
import { FakeFileSyncApi } from '../helpers/fake-file-sync-api';
import { capturingLogger, TempDirs } from '../helpers/temp-dirs';

const KIB = 1024;
const MIB = 1024 * KIB;

class Gate {
  private release!: () => void;
  readonly opened = new Promise<void>((r) => (this.release = r));
  open(): void {
    this.release();
  }
}

const dirs = new TempDirs();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  dirs.cleanup();
});

function pattern(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed + (i >>> 11)) & 0xff;
  return b;
}

async function setup(files: Record<string, Buffer>, tuning: Partial<HydratorOptions> = {}) {
  const api = new FakeFileSyncApi();
  const ids: Record<string, ItemId> = {};
  for (const [name, data] of Object.entries(files)) ids[name] = api.addFile(api.rootId, name, data);
  const base = dirs.make();
  const { logger, lines } = capturingLogger();
  const store = MetadataStore.open(path.join(base, 'meta.sqlite'), { logger });
  cleanups.push(() => store.close());
  await new TreeSync({ api, store, logger }).initialSync();
  const cacheDir = path.join(base, 'content');
  const cache = await ContentCache.open({ dir: cacheDir, store, maxBytes: 1024 * MIB, logger });
  const hydrator = new Hydrator({ api, store, cache, logger, ...tuning });
  cleanups.push(() => hydrator.close());
  const item = (name: string): StoredItem => store.getItem(ids[name]!)!;
  return { api, store, cache, cacheDir, hydrator, item, lines };
}

async function readAll(
  h: { read(b: Buffer, l: number, p: number): Promise<number> },
  size: number,
): Promise<Buffer> {
  const out = Buffer.alloc(size);
  for (let pos = 0; pos < size;) {
    const n = await h.read(out.subarray(pos), Math.min(200 * KIB, size - pos), pos);
    if (n === 0) break;
    pos += n;
  }
  return out;
}

describe('Hydrator (in-memory FileSyncApi)', () => {
  it('answers a read of the first 4 KiB while the download is held back, then caches the file', async () => {
    const data = pattern(2 * MIB);
    const { api, hydrator, cache, item } = await setup({ 'big.bin': data });
    const gate = new Gate();
    api.beforeChunk = (_id, offset, range) =>
      range === undefined && offset >= 256 * KIB ? gate.opened : Promise.resolve();
    const h = await hydrator.open(item('big.bin'));
    const head = Buffer.alloc(4 * KIB);
    expect(await h.read(head, head.length, 0)).toBe(4 * KIB);
    expect(head).toEqual(data.subarray(0, 4 * KIB));
    const progress = await hydrator.progress(item('big.bin').id, item('big.bin').etag);
    expect(progress).toBeLessThanOrEqual(256 * KIB); // the stream is parked at the gate, far from the end
    gate.open();
    expect((await readAll(h, data.length)).equals(data)).toBe(true);
    await h.close();
    await hydrator.settled(item('big.bin').id, item('big.bin').etag);
    expect(cache.lookup(item('big.bin').id, item('big.bin').etag)).toBeDefined();
    expect(hydrator.stats().downloadsStarted).toBe(1);
  });

  it('shares one download between concurrent opens and serves later opens from the cache', async () => {
    const data = pattern(600 * KIB, 7);
    const { api, hydrator, cache, item } = await setup({ 'f.bin': data });
    const [h1, h2] = await Promise.all([hydrator.open(item('f.bin')), hydrator.open(item('f.bin'))]);
    const [a, b] = await Promise.all([readAll(h1, data.length), readAll(h2, data.length)]);
    expect(a.equals(data)).toBe(true);
    expect(b.equals(data)).toBe(true);
    await Promise.all([h1.close(), h2.close()]);
    await hydrator.settled(item('f.bin').id, item('f.bin').etag);
    expect(hydrator.stats().downloadsStarted).toBe(1);
    expect(cache.lookup(item('f.bin').id, item('f.bin').etag)).toBeDefined();
    const downloads = api.calls.downloads.length;
    const h3 = await hydrator.open(item('f.bin'));
    expect((await readAll(h3, data.length)).equals(data)).toBe(true);
    await h3.close();
    expect(api.calls.downloads.length).toBe(downloads);
    expect(hydrator.stats().downloadsStarted).toBe(1);
  });

  it('serves a read far ahead of the download with its own Range request', async () => {
    const size = 8 * MIB;
    const data = pattern(size, 3);
    const { api, hydrator, cache, item } = await setup(
      { 'video.bin': data },
      { farReadThresholdBytes: 1 * MIB, farReadWindowBytes: 512 * KIB },
    );
    const gate = new Gate();
    api.beforeChunk = (_id, offset, range) =>
      range === undefined && offset >= 128 * KIB ? gate.opened : Promise.resolve();
    const h = await hydrator.open(item('video.bin'));
    const tail = Buffer.alloc(100);
    expect(await h.read(tail, 100, size - 100)).toBe(100);
    expect(tail).toEqual(data.subarray(size - 100));
    expect(api.calls.downloads).toContainEqual({ start: size - 512 * KIB, end: size - 1 });
    expect(hydrator.stats().rangeRequests).toBe(1);
    gate.open();
    expect((await readAll(h, size)).equals(data)).toBe(true);
    await h.close();
    await hydrator.settled(item('video.bin').id, item('video.bin').etag);
    const file = cache.lookup(item('video.bin').id, item('video.bin').etag)!;
    expect(fs.readFileSync(file).equals(data)).toBe(true);
  });

  it('rejects reads with IntegrityError when the bytes do not match XORHash, and caches nothing', async () => {
    const data = pattern(300 * KIB);
    const { api, hydrator, cache, cacheDir, item, lines, store } = await setup({ 'bad.bin': data });
    const id = item('bad.bin').id;
    api.update(id, { hash: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }); // the advertised hash no longer matches the bytes
    await new TreeSync({ api, store, logger: capturingLogger().logger }).sync();
    const h = await hydrator.open(item('bad.bin'));
    await expect(readAll(h, data.length)).rejects.toBeInstanceOf(IntegrityError);
    await expect(h.read(Buffer.alloc(10), 10, 0)).rejects.toMatchObject({ code: 'INTEGRITY' });
    await h.close();
    // Readers fail at once; removing the temp file finishes when the download settles.
    await hydrator.settled(id, item('bad.bin').etag);
    expect(cache.lookup(id, item('bad.bin').etag)).toBeUndefined();
    expect(fs.readdirSync(cacheDir)).toEqual([]);
    const line = lines.find((l) => l.level === 50 && l.id === id);
    expect(line?.name).toBe('bad.bin');
  });

  it('resumes a broken stream from where it stopped with a Range request (simulated fault)', async () => {
    const data = pattern(1 * MIB, 9);
    const { api, hydrator, item } = await setup({ 'r.bin': data });
    api.breakStreamAtBytes = 256 * KIB;
    const h = await hydrator.open(item('r.bin'));
    expect((await readAll(h, data.length)).equals(data)).toBe(true);
    await h.close();
    expect(hydrator.stats().resumes).toBe(1);
    expect(api.calls.downloads).toContainEqual({ start: 256 * KIB });
  });

  it('fails waiting reads with HydrationError when the download fails, and a fresh open retries (simulated fault)', async () => {
    const data = pattern(100 * KIB);
    const { api, hydrator, item } = await setup({ 'n.bin': data });
    const real = api.download.bind(api);
    api.download = () => Promise.reject(new Error('connection refused (simulated fault)'));
    const h = await hydrator.open(item('n.bin'));
    const err = await h.read(Buffer.alloc(10), 10, 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HydrationError);
    expect((err as HydrationError).cause).toBeInstanceOf(Error);
    await h.close();
    api.download = real;
    const again = await hydrator.open(item('n.bin'));
    expect((await readAll(again, data.length)).equals(data)).toBe(true);
    await again.close();
    expect(hydrator.stats().downloadsStarted).toBe(2);
  });

  it('opens empty files without any download', async () => {
    const { api, hydrator, item } = await setup({ 'empty.txt': Buffer.alloc(0) });
    const h = await hydrator.open(item('empty.txt'));
    expect(await h.read(Buffer.alloc(10), 10, 0)).toBe(0);
    await h.close();
    expect(api.calls.downloads).toEqual([]);
    expect(hydrator.stats().downloadsStarted).toBe(0);
  });

  it('stops a large download when its last handle closes early, leaving no partial file', async () => {
    const data = pattern(4 * MIB);
    const { api, hydrator, cacheDir, item } = await setup(
      { 'l.bin': data },
      { abandonRemainingBytes: 1 * MIB },
    );
    const gate = new Gate();
    api.beforeChunk = (_id, offset) => (offset >= 128 * KIB ? gate.opened : Promise.resolve());
    const h = await hydrator.open(item('l.bin'));
    expect(await h.read(Buffer.alloc(10), 10, 0)).toBe(10);
    await h.close();
    gate.open();
    await hydrator.close();
    expect(fs.readdirSync(cacheDir)).toEqual([]);
    const again = await hydrator.open(item('l.bin'));
    expect((await readAll(again, data.length)).equals(data)).toBe(true);
    await again.close();
    expect(hydrator.stats().downloadsStarted).toBe(2);
  });
});
