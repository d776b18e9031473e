// Hydrator against the in-memory FileSyncApi: range-level fetches, read-ahead, single flight, verification and
// re-fetch, retries, background full hydration, ranges kept across a restart; gates in the fake's stream, no timing.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContentCache } from '../../src/cache/content-cache';
import { MetadataStore, type StoredItem } from '../../src/cache/metadata-store';
import { SparseFile } from '../../src/cache/sparse-file';
import type { ItemId } from '../../src/shared/ids';
import { QuickXorHash } from '../../src/shared/quickxorhash';
import { HydrationError, IntegrityError, VersionChangedError } from '../../src/sync/errors';
import { toErrnoName } from '../../src/vfs/errors';
import { Hydrator, readInto, type ContentHandle, type HydratorOptions } from '../../src/sync/hydrator';
import { MAX_READ_AHEAD_FETCHES } from '../../src/sync/version-fetcher';
import { TreeSync } from '../../src/sync/tree-sync';
import type { ByteRange, DownloadStream } from '../../src/protocol/types';
import { FakeFileSyncApi } from '../helpers/fake-file-sync-api';
import { capturingLogger, TempDirs } from '../helpers/temp-dirs';

const KIB = 1024;
const MIB = 1024 * KIB;
const RA = { minBytes: 256 * KIB, maxBytes: 1 * MIB, slackBytes: 64 * KIB };

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

async function setup(
  files: Record<string, Buffer>,
  tuning: Partial<HydratorOptions> = {},
  base = dirs.make(),
) {
  const api = new FakeFileSyncApi();
  const ids: Record<string, ItemId> = {};
  for (const [name, data] of Object.entries(files)) ids[name] = api.addFile(api.rootId, name, data);
  const { logger, lines } = capturingLogger();
  const store = MetadataStore.open(path.join(base, 'meta.sqlite'), { logger });
  api.chunkBytes = 64 * KIB;
  cleanups.push(() => store.close());
  await new TreeSync({ api, store, logger }).initialSync();
  const cacheDir = path.join(base, 'content');
  const cache = await ContentCache.open({ dir: cacheDir, store, maxBytes: 1024 * MIB, logger });
  const hydrator = new Hydrator({ api, store, cache, logger, readAhead: RA, ...tuning });
  cleanups.push(() => hydrator.close());
  const item = (name: string): StoredItem => store.getItem(ids[name]!)!;
  return { api, store, cache, cacheDir, hydrator, item, lines, base, ids };
}

/** Lets a test change each stream the fake sends (with the range asked for) before the hydrator sees it. */
function onDownload(
  api: FakeFileSyncApi,
  edit: (dl: DownloadStream, range: ByteRange | undefined) => void,
): void {
  const real = api.download.bind(api);
  api.download = async (url, range, signal) => {
    const dl = await real(url, range, signal);
    edit(dl, range);
    return dl;
  };
}

/** What the download worker does with a piece of a body: a positional write, then its hash lanes reported. */
function landPiece(
  fd: number,
  piece: Uint8Array,
  at: number,
  onLanded: (at: number, n: number, lanes: Uint8Array) => void,
): void {
  fs.writeSync(fd, piece, 0, piece.length, at);
  onLanded(at, piece.length, QuickXorHash.startingAt(at).update(piece).laneBytes());
}

async function readAll(h: ContentHandle, size: number): Promise<Buffer> {
  const out = Buffer.alloc(size);
  for (let pos = 0; pos < size;) {
    const n = await readInto(h, out.subarray(pos), Math.min(200 * KIB, size - pos), pos);
    if (n === 0) break;
    pos += n;
  }
  return out;
}

describe('Hydrator (in-memory FileSyncApi)', () => {
  it('a head read fetches only its read-ahead window, not the file', async () => {
    const data = pattern(8 * MIB);
    const { api, hydrator, item } = await setup({ 'big.bin': data });
    const h = await hydrator.open(item('big.bin'));
    const head = Buffer.alloc(4 * KIB);
    expect(await readInto(h, head, head.length, 0)).toBe(4 * KIB);
    expect(head).toEqual(data.subarray(0, 4 * KIB));
    expect(api.calls.downloads).toEqual([{ start: 0, end: 256 * KIB - 1 }]);
    await h.close();
  });

  it('a read-ahead that fails without I/O is not restarted in a loop while the read waits (simulated fault)', async () => {
    // The fault storm's daemon died out of heap: each instant read-ahead failure (cache full, offline) woke the
    // waiting read, whose loop started the same read-ahead again, in microtasks only, so the read's own download
    // (a macrotask away) never came. The fake refuses 200 read-aheads at most, then lets everything through, so the
    // broken loop ends with a count to show.
    const data = pattern(2 * MIB, 5);
    const { api, hydrator, item } = await setup(
      { 'ra.bin': data },
      { readAhead: { minBytes: 1 * MIB, maxBytes: 1 * MIB, slackBytes: 0 } },
    );
    const real = api.download.bind(api);
    let refused = 0;
    let letThrough: () => void = () => undefined;
    const through = new Promise<void>((r) => (letThrough = r));
    setTimeout(() => letThrough(), 20);
    api.download = async (url, range, signal) => {
      if ((range?.start ?? 0) > 0 && refused < 200) {
        if (++refused === 200) letThrough();
        throw new HydrationError(item('ra.bin').id, 'read-ahead refused (simulated)');
      }
      await through;
      return real(url, range, signal);
    };
    const h = await hydrator.open(item('ra.bin'));
    const head = Buffer.alloc(1 * MIB);
    expect(await readInto(h, head, head.length, 0)).toBe(1 * MIB);
    expect(head.equals(data.subarray(0, 1 * MIB))).toBe(true);
    expect(refused).toBeLessThanOrEqual(2);
    await h.close();
  });

  it('a tail read fetches the end of the file; the open only the first window, its version check', async () => {
    const size = 8 * MIB;
    const data = pattern(size, 3);
    const { api, hydrator, item } = await setup({ 'log.txt': data });
    const h = await hydrator.open(item('log.txt'));
    const tail = Buffer.alloc(100);
    expect(await readInto(h, tail, 100, size - 100)).toBe(100);
    expect(tail).toEqual(data.subarray(size - 100));
    expect(api.calls.downloads).toEqual([
      { start: 0, end: RA.minBytes - 1 },
      { start: size - 100, end: size - 1 },
    ]);
    await h.close();
  });

  it('single flight: concurrent reads of one range share one request; a range in flight is waited for', async () => {
    const data = pattern(2 * MIB, 7);
    const { api, hydrator, item } = await setup({ 'f.bin': data });
    const gate = new Gate();
    api.beforeChunk = () => gate.opened;
    const [h1, h2] = await Promise.all([hydrator.open(item('f.bin')), hydrator.open(item('f.bin'))]);
    const b1 = Buffer.alloc(1000);
    const b2 = Buffer.alloc(1000);
    const b3 = Buffer.alloc(1000);
    const reads = [readInto(h1, b1, 1000, 0), readInto(h2, b2, 1000, 0), readInto(h2, b3, 1000, 100 * KIB)];
    gate.open();
    expect(await Promise.all(reads)).toEqual([1000, 1000, 1000]);
    expect(b1).toEqual(data.subarray(0, 1000));
    expect(b3).toEqual(data.subarray(100 * KIB, 100 * KIB + 1000));
    expect(api.calls.downloads).toEqual([{ start: 0, end: 256 * KIB - 1 }]);
    await Promise.all([h1.close(), h2.close()]);
  });

  it('a sequential read grows its windows, verifies the file and later opens read from disk only', async () => {
    const data = pattern(3 * MIB, 5);
    const { api, hydrator, cache, item } = await setup({ 's.bin': data });
    const h = await hydrator.open(item('s.bin'));
    expect((await readAll(h, data.length)).equals(data)).toBe(true);
    await h.close();
    await hydrator.settled(item('s.bin').id, item('s.bin').etag);
    const sizes = api.calls.downloads.map((r) => r!.end! + 1 - r!.start);
    expect(sizes[0]).toBe(256 * KIB);
    expect(Math.max(...sizes)).toBeGreaterThan(256 * KIB);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(data.length); // no byte fetched twice
    const hit = cache.openVerified(item('s.bin').id, item('s.bin').etag);
    expect(hit).toBeDefined();
    hit!.release();
    const n = api.calls.downloads.length;
    const again = await hydrator.open(item('s.bin'));
    expect((await readAll(again, data.length)).equals(data)).toBe(true);
    await again.close();
    expect(api.calls.downloads.length).toBe(n);
  });

  it('an open while the last fetcher of a version is closing (recording its verification) opens the verified file, not a hash pass from disk', async () => {
    const data = pattern(1 * MIB, 9);
    const { hydrator, item } = await setup({ 'p.bin': data });
    await hydrator.hydrateWhole(item('p.bin'), () => Promise.resolve()); // a sibling fetched ahead: done, closing
    const hashedFromDisk = jest.spyOn(SparseFile.prototype, 'readSync');
    try {
      const h = await hydrator.open(item('p.bin')); // the program's open, right after
      expect((await readAll(h, data.length)).equals(data)).toBe(true);
      await h.close();
      expect(hashedFromDisk).not.toHaveBeenCalled();
    } finally {
      hashedFromDisk.mockRestore();
    }
  });

  it('bad content is dropped and fetched again once; a good second copy is served (simulated fault)', async () => {
    const data = pattern(600 * KIB, 11);
    const { api, hydrator, cache, item, lines } = await setup({ 'c.bin': data });
    const real = api.download.bind(api);
    let corrupt = true;
    api.download = async (url, range, signal) => {
      const dl = await real(url, range, signal);
      if (!corrupt || range?.start !== 0) return dl;
      corrupt = false;
      const batches = dl.batches;
      dl.batches = (async function* () {
        // first byte of each chunk flipped
        for await (const b of batches) yield b.map((c) => Buffer.from(c).fill(0, 0, 1));
      })();
      return dl;
    };
    const h = await hydrator.open(item('c.bin'));
    expect((await readAll(h, data.length)).subarray(-1000)).toEqual(data.subarray(-1000));
    await h.close();
    await hydrator.settled(item('c.bin').id, item('c.bin').etag);
    expect(hydrator.stats().verifyFailures).toBe(1);
    const hit = cache.openVerified(item('c.bin').id, item('c.bin').etag);
    expect(hit).toBeDefined();
    expect(fs.readFileSync(hit!.path).equals(data)).toBe(true);
    hit!.release();
    expect(lines.some((l) => l.level === 50 && l.id === item('c.bin').id && l.refetch === true)).toBe(true);
  });

  it('content that fails verification twice gives IntegrityError (EIO), a log line and nothing cached', async () => {
    const data = pattern(300 * KIB);
    const { api, hydrator, cache, item, lines, store } = await setup({ 'bad.bin': data });
    const id = item('bad.bin').id;
    api.update(id, { hash: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }); // the advertised hash no longer matches the bytes
    await new TreeSync({ api, store, logger: capturingLogger().logger }).sync();
    const h = await hydrator.open(item('bad.bin'));
    await expect(readAll(h, data.length)).rejects.toBeInstanceOf(IntegrityError);
    await expect(readInto(h, Buffer.alloc(10), 10, 0)).rejects.toMatchObject({ code: 'INTEGRITY' });
    await h.close();
    await hydrator.settled(id, item('bad.bin').etag);
    expect(hydrator.stats().verifyFailures).toBe(2);
    expect(cache.openVerified(id, item('bad.bin').etag)).toBeUndefined();
    expect(cache.presentRanges(id, item('bad.bin').etag).list()).toEqual([]);
    await expect(hydrator.open(item('bad.bin'))).rejects.toBeInstanceOf(IntegrityError);
    const line = lines.find((l) => l.level === 50 && l.id === id && l.refetch === false);
    expect(line?.name).toBe('bad.bin');
  });

  it('an open of a version the server replaced since the last sync fails only after the sync it asked for (E7 again) ended', async () => {
    const changed: string[] = [];
    let sync: () => Promise<void> = () => Promise.resolve();
    const { api, hydrator, item, store, ids } = await setup(
      { 'doc.bin': pattern(100 * KIB) },
      {
        versionChanged: (i) => {
          changed.push(i.id);
          return sync();
        },
      },
    );
    sync = async () => void (await new TreeSync({ api, store, logger: capturingLogger().logger }).sync());
    const stale = item('doc.bin');
    api.update(ids['doc.bin']!, { content: pattern(120 * KIB, 2) }); // another machine saved it; not synced yet
    await expect(hydrator.open(stale)).rejects.toBeInstanceOf(VersionChangedError);
    expect(changed).toEqual([stale.id]);
    // The open came back once the sync had brought the new version: the caller's retry opens and reads it whole.
    expect(item('doc.bin').etag).not.toBe(stale.etag);
    const fresh = await hydrator.open(item('doc.bin'));
    expect((await readAll(fresh, 120 * KIB)).equals(pattern(120 * KIB, 2))).toBe(true);
    await fresh.close();
  });

  it('a read that needs bytes of a version the server replaced after the open fails with EIO, never mixing versions', async () => {
    const changed: string[] = [];
    const { api, hydrator, item, ids } = await setup(
      { 'doc.bin': pattern(4 * MIB) },
      { versionChanged: (i) => void changed.push(i.id) },
    );
    const opened = item('doc.bin');
    const h = await hydrator.open(opened); // the server still serves this version: the open is confirmed
    expect(changed).toEqual([]);
    const head = Buffer.alloc(64 * KIB);
    expect(await readInto(h, head, head.length, 0)).toBe(head.length);
    expect(head.equals(pattern(4 * MIB).subarray(0, 64 * KIB))).toBe(true);
    api.update(ids['doc.bin']!, { content: pattern(4 * MIB, 2) }); // same size, another version
    const err = await readInto(h, Buffer.alloc(64 * KIB), 64 * KIB, 3 * MIB).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionChangedError);
    expect(toErrnoName(err)).toBe('EIO');
    expect(changed).toEqual([opened.id]);
    await h.close();
  });

  it('read-ahead keeps at most MAX_READ_AHEAD_FETCHES requests in flight while a reader runs ahead of them', async () => {
    const data = pattern(8 * MIB, 4);
    const { api, hydrator, item } = await setup(
      { 'ra.bin': data },
      { readAhead: { minBytes: 256 * KIB, maxBytes: 4 * MIB, slackBytes: 64 * KIB } },
    );
    const gate = new Gate();
    let inflight = 0;
    let most = 0;
    onDownload(api, (dl, range) => {
      inflight++;
      most = Math.max(most, inflight);
      const batches = dl.batches;
      const held = (range?.start ?? 0) > 0; // read-ahead fetches stall until the gate opens
      dl.batches = (async function* () {
        try {
          if (held) await gate.opened;
          yield* batches;
        } finally {
          inflight--;
        }
      })();
    });
    const h = await hydrator.open(item('ra.bin'));
    // Small reads inside the first window: each doubles the window and, uncapped, would start another fetch.
    const out = Buffer.alloc(data.length);
    // Between reads the event loop turns, as between FUSE requests, so finished fetches leave the in-flight set.
    // The first fetch leaves it only after its fdatasync, which a loaded machine may take a while over: the last
    // read is repeated (still sequential) until the held read-ahead fetches fill the cap, or for at most 5 s.
    try {
      for (let pos = 0; pos < 256 * KIB; pos += 16 * KIB) {
        await readInto(h, out.subarray(pos), 16 * KIB, pos);
        await new Promise((r) => setTimeout(r, 1));
      }
      for (let tries = 0; inflight < MAX_READ_AHEAD_FETCHES && tries < 500; tries++) {
        await readInto(h, out.subarray(240 * KIB), 16 * KIB, 240 * KIB);
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(inflight).toBe(MAX_READ_AHEAD_FETCHES);
    } finally {
      gate.open();
    }
    for (let pos = 256 * KIB; pos < data.length; pos += 64 * KIB)
      await readInto(h, out.subarray(pos), 64 * KIB, pos);
    await h.close();
    expect(out.equals(data)).toBe(true);
    expect(most).toBe(MAX_READ_AHEAD_FETCHES);
  });

  it('gives every downloaded chunk back to the stream once it is written (so direct downloads reuse buffers)', async () => {
    const data = pattern(2 * MIB, 6);
    const { api, hydrator, item } = await setup({ 'rel.bin': data });
    const lent = new Set<Uint8Array>();
    const released = new Set<Uint8Array>();
    onDownload(api, (dl) => {
      const batches = dl.batches;
      dl.batches = (async function* () {
        for await (const b of batches) {
          for (const c of b) lent.add(c);
          yield b;
        }
      })();
      dl.release = (chunks) => {
        for (const c of chunks) {
          expect(lent.has(c)).toBe(true);
          released.add(c);
        }
      };
    });
    const h = await hydrator.open(item('rel.bin'));
    expect((await readAll(h, data.length)).equals(data)).toBe(true);
    await h.close();
    await hydrator.settled(item('rel.bin').id, item('rel.bin').etag);
    expect(lent.size).toBeGreaterThan(0);
    expect([...lent].filter((c) => !released.has(c))).toEqual([]);
  });

  it("fills through a DownloadStream.writeTo (the download worker's path): bytes written to the fd and their hash lanes are recorded and verified", async () => {
    const data = pattern(3 * MIB + 12345, 8);
    const { api, hydrator, cache, item } = await setup({ 'w.bin': data });
    let writes = 0;
    onDownload(api, (dl, range) => {
      const start = range?.start ?? 0;
      const end = range?.end === undefined ? data.length : range.end + 1;
      dl.batches = {
        [Symbol.asyncIterator]: () => {
          throw new Error('the bytes path must not be used when writeTo is there');
        },
      };
      // Stands in for the worker: positional writes to the fd in 100 KiB pieces, each reported with its lanes.
      dl.writeTo = (fd, at, limit, onLanded) => {
        const stop = Math.min(end, at + limit);
        for (let pos = start; pos < stop; pos += 100 * KIB) {
          landPiece(fd, data.subarray(pos, Math.min(stop, pos + 100 * KIB)), pos, onLanded);
          writes++;
        }
        return Promise.resolve();
      };
    });
    const h = await hydrator.open(item('w.bin'));
    expect((await readAll(h, data.length)).equals(data)).toBe(true);
    await h.close();
    await hydrator.settled(item('w.bin').id, item('w.bin').etag);
    expect(writes).toBeGreaterThan(0);
    const hit = cache.openVerified(item('w.bin').id, item('w.bin').etag);
    expect(hit).toBeDefined(); // verified from the merged lanes
    hit!.release();
  });

  it('a writeTo that stops short is fetched again from where it stopped (simulated fault)', async () => {
    const data = pattern(1 * MIB, 3);
    const { api, hydrator, item } = await setup(
      { 'ws.bin': data },
      { readAhead: { minBytes: 1 * MIB, maxBytes: 1 * MIB, slackBytes: 0 } },
    );
    let short = true;
    onDownload(api, (dl, range) => {
      const start = range?.start ?? 0;
      dl.writeTo = (fd, at, limit, onLanded) => {
        const n = short ? 300 * KIB : limit;
        short = false;
        landPiece(fd, data.subarray(start, start + n), at, onLanded);
        return Promise.resolve();
      };
    });
    const h = await hydrator.open(item('ws.bin'));
    expect((await readAll(h, data.length)).equals(data)).toBe(true);
    await h.close();
    expect(api.calls.downloads[1]?.start).toBe(300 * KIB);
  });

  it('a broken fetch is retried from where its bytes stopped (simulated fault)', async () => {
    const data = pattern(1 * MIB, 9);
    const { api, hydrator, item } = await setup(
      { 'r.bin': data },
      { readAhead: { minBytes: 1 * MIB, maxBytes: 1 * MIB, slackBytes: 0 } },
    );
    const real = api.download.bind(api);
    let broken = false;
    api.download = async (url, range, signal) => {
      const dl = await real(url, range, signal);
      if (broken) return dl;
      broken = true;
      const batches = dl.batches;
      dl.batches = (async function* () {
        let n = 0;
        for await (const b of batches) {
          if (n >= 256 * KIB) throw new Error('connection reset (simulated fault)');
          for (const c of b) n += c.length;
          yield b;
        }
      })();
      return dl;
    };
    const h = await hydrator.open(item('r.bin'));
    expect((await readAll(h, data.length)).equals(data)).toBe(true);
    await h.close();
    expect(api.calls.downloads[1]?.start).toBe(256 * KIB);
  });

  it('fails a read with HydrationError when fetching keeps failing, and a fresh open works (simulated fault)', async () => {
    const data = pattern(100 * KIB);
    const { api, hydrator, item } = await setup({ 'n.bin': data });
    const real = api.download.bind(api);
    api.download = () => Promise.reject(new Error('connection refused (simulated fault)'));
    const h = await hydrator.open(item('n.bin'));
    const err = await readInto(h, Buffer.alloc(10), 10, 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HydrationError);
    expect((err as HydrationError).cause).toBeInstanceOf(Error);
    await h.close();
    api.download = real;
    const again = await hydrator.open(item('n.bin'));
    expect((await readAll(again, data.length)).equals(data)).toBe(true);
    await again.close();
  });

  it('opens empty files without any download', async () => {
    const { api, hydrator, item } = await setup({ 'empty.txt': Buffer.alloc(0) });
    const h = await hydrator.open(item('empty.txt'));
    expect(await readInto(h, Buffer.alloc(10), 10, 0)).toBe(0);
    await h.close();
    expect(api.calls.downloads).toEqual([]);
  });

  it('--hydrate full keeps fetching the rest of an opened file after a head read, and verifies it', async () => {
    const data = pattern(3 * MIB, 13);
    const { hydrator, cache, item } = await setup(
      { 'v.bin': data },
      { hydrate: 'full', fullChunkBytes: 1 * MIB },
    );
    const h = await hydrator.open(item('v.bin'));
    expect(await readInto(h, Buffer.alloc(10), 10, 0)).toBe(10);
    await h.close();
    await hydrator.settled(item('v.bin').id, item('v.bin').etag);
    const hit = cache.openVerified(item('v.bin').id, item('v.bin').etag);
    expect(hit).toBeDefined();
    expect(fs.readFileSync(hit!.path).equals(data)).toBe(true);
    hit!.release();
  });

  it('keeps recorded ranges across a restart: re-reading them downloads nothing', async () => {
    const data = pattern(4 * MIB, 17);
    const first = await setup({ 'p.bin': data });
    const h = await first.hydrator.open(first.item('p.bin'));
    const b = Buffer.alloc(4 * KIB);
    await readInto(h, b, b.length, 2 * MIB);
    await h.close();
    await first.hydrator.settled(first.item('p.bin').id, first.item('p.bin').etag);
    await first.hydrator.close();
    const id = first.item('p.bin').id;
    const etag = first.item('p.bin').etag;
    expect(first.cache.presentRanges(id, etag).covers(2 * MIB, 2 * MIB + 4 * KIB)).toBe(true);
    first.store.close();
    // A new store and cache over the same directory, as after a restart.
    const { logger } = capturingLogger();
    const store = MetadataStore.open(path.join(first.base, 'meta.sqlite'), { logger });
    cleanups.push(() => store.close());
    const cache = await ContentCache.open({ dir: first.cacheDir, store, maxBytes: 1024 * MIB, logger });
    const calls: unknown[] = [];
    const api = first.api;
    const real = api.download.bind(api);
    api.download = (url, range, signal) => {
      calls.push(range);
      return real(url, range, signal);
    };
    const hydrator = new Hydrator({
      api,
      store,
      cache,
      logger,
      readAhead: { minBytes: 0, maxBytes: 0, slackBytes: 0 },
    });
    cleanups.push(() => hydrator.close());
    const h2 = await hydrator.open(store.getItem(id)!);
    const b2 = Buffer.alloc(4 * KIB);
    await readInto(h2, b2, b2.length, 2 * MIB);
    expect(b2).toEqual(data.subarray(2 * MIB, 2 * MIB + 4 * KIB));
    expect(calls).toEqual([]);
    await h2.close();
  });
});
