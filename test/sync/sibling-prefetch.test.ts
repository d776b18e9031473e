// Sibling prefetch: the pattern rule as plain logic, then SiblingPrefetch in process against the reference server
// (real client, SQLite store, content cache, hydrator): what is fetched ahead, what is left (large files, files
// already cached, prefetching off). The mounted run is the core case "files of a folder read one after another".
import { constants } from 'node:fs';
import * as path from 'node:path';
import type { ContentCache } from '../../src/cache/content-cache';
import type { MetadataStore } from '../../src/cache/metadata-store';
import type { ItemId } from '../../src/shared/ids';
import { SequentialOpens, type SiblingPrefetch } from '../../src/sync/sibling-prefetch';
import type { SpfsFilesystem } from '../../src/vfs/spfs-filesystem';
import { eventually } from '../helpers/eventually';
import { openInProcessLibrary } from '../helpers/in-process-library';
import { Harness } from '../server/server-harness';

const F = 'folder-a' as ItemId;
const G = 'folder-b' as ItemId;

describe('SequentialOpens (when to fetch ahead)', () => {
  it('asks for nothing on a first open, then 2, 4, … up to the limit while opens go forward', () => {
    const p = new SequentialOpens(4);
    expect([
      p.observe(F, 'a'),
      p.observe(F, 'b'),
      p.observe(F, 'c'),
      p.observe(F, 'd'),
      p.observe(F, 'e'),
    ]).toEqual([0, 2, 4, 4, 4]);
  });

  it('starts over when an open goes back, and ignores the same file opened twice', () => {
    const p = new SequentialOpens(8);
    p.observe(F, 'm');
    expect(p.observe(F, 'n')).toBe(2);
    expect(p.observe(F, 'N')).toBe(0); // the same name (SharePoint names are case-insensitive): no step
    expect(p.observe(F, 'o')).toBe(4); // the streak held
    expect(p.observe(F, 'a')).toBe(0); // back: a new streak of one
    expect(p.observe(F, 'b')).toBe(2);
  });

  it('keeps one pattern per folder', () => {
    const p = new SequentialOpens(4);
    p.observe(F, 'a');
    p.observe(G, 'z');
    expect(p.observe(F, 'b')).toBe(2);
    expect(p.observe(G, 'y')).toBe(0);
  });

  it('asks for nothing when off', () => {
    const p = new SequentialOpens(0);
    p.observe(F, 'a');
    expect(p.observe(F, 'b')).toBe(0);
  });
});

describe('SiblingPrefetch in process (real server and cache)', () => {
  const harness = new Harness();
  const MIB = 1024 * 1024;
  const small = (i: number): string => `small file ${i}\n`.repeat(50 + i);

  async function library(
    prefetchFiles: number,
    cacheMaxBytes?: number,
  ): Promise<{
    fs: SpfsFilesystem;
    store: MetadataStore;
    cache: ContentCache;
    closers: Array<() => Promise<void> | void>;
    prefetch: SiblingPrefetch;
  }> {
    const seed: Record<string, string | Buffer> = {
      'Docs/a0.txt': small(0),
      'Docs/a1.txt': small(1),
      'Docs/a2.txt': small(2),
      'Docs/a3-large.bin': Buffer.alloc(9 * MIB, 7), // above the 8 MiB limit: streams on its own read-ahead
      'Docs/a4.txt': small(4),
      'Docs/a5.txt': small(5),
      'Docs/a6.txt': small(6),
    };
    const seedDir = await harness.seed(seed);
    const work = await harness.tempDir('spfs-prefetch-');
    const srv = await harness.start({ dataDir: path.join(work, 'server'), seedDir });
    const closers: Array<() => Promise<void> | void> = [];
    const lib = await openInProcessLibrary({
      work,
      siteUrl: srv.siteUrl,
      closers,
      prefetchFiles,
      ...(cacheMaxBytes !== undefined ? { cacheMaxBytes } : {}),
    });
    return { fs: lib.w.fs, store: lib.store, cache: lib.cache, closers, prefetch: lib.prefetch! };
  }

  async function readWhole(fs: SpfsFilesystem, p: string): Promise<string> {
    const fh = await fs.open(p, constants.O_RDONLY);
    const buf = Buffer.alloc(64 * 1024);
    const n = await fs.read(fh, buf, buf.length, 0);
    await fs.release(fh);
    return buf.subarray(0, n).toString();
  }

  afterAll(() => harness.cleanup());

  it('fetches the next small documents after two forward opens, skipping one above the size limit', async () => {
    const { fs, store, cache, closers, prefetch } = await library(4);
    try {
      const docs = store.getChild(store.rootId()!, 'Docs')!;
      const item = (name: string) => store.getChild(docs.id, name)!;
      const cached = (name: string): boolean => cache.hasVerified(item(name).id, item(name).etag);
      expect(await readWhole(fs, '/Docs/a0.txt')).toBe(small(0));
      expect(prefetch.pendingCount).toBe(0); // one open is no pattern
      expect(await readWhole(fs, '/Docs/a1.txt')).toBe(small(1));
      await eventually(() => (cached('a2.txt') ? true : undefined), 'a2 fetched ahead', 20_000);
      // Two ahead after two opens: a2, and a3 is too large to fetch ahead.
      expect(await readWhole(fs, '/Docs/a2.txt')).toBe(small(2));
      // Third open: four ahead (a3-large skipped, a4, a5, a6).
      await eventually(
        () => (['a4.txt', 'a5.txt', 'a6.txt'].every(cached) ? true : undefined),
        'a4..a6 fetched ahead',
        20_000,
      );
      expect(cached('a3-large.bin')).toBe(false);
      expect(await readWhole(fs, '/Docs/a6.txt')).toBe(small(6));
    } finally {
      for (const c of closers.reverse()) await c();
    }
  });

  it('fetches nothing ahead with --prefetch-files 0', async () => {
    const { fs, store, cache, closers, prefetch } = await library(0);
    try {
      const docs = store.getChild(store.rootId()!, 'Docs')!;
      for (const n of ['a0.txt', 'a1.txt', 'a2.txt']) await readWhole(fs, `/Docs/${n}`);
      // noteOpen queues synchronously: nothing queued or in flight means nothing was asked for.
      expect([prefetch.pendingCount, prefetch.fetchedCount]).toEqual([0, 0]);
      const rest = ['a4.txt', 'a5.txt', 'a6.txt'].map((n) => store.getChild(docs.id, n)!);
      expect(rest.map((d) => cache.hasVerified(d.id, d.etag))).toEqual([false, false, false]);
    } finally {
      for (const c of closers.reverse()) await c();
    }
  });

  it('fetches ahead only into free room: a full cache keeps what was read', async () => {
    // Room for a0 (one 4 KiB block) and a1's ~700 bytes on the wire, not for a2's as well.
    const { fs, store, cache, closers, prefetch } = await library(4, 5000);
    try {
      const docs = store.getChild(store.rootId()!, 'Docs')!;
      const item = (name: string) => store.getChild(docs.id, name)!;
      const cached = (name: string): boolean => cache.hasVerified(item(name).id, item(name).etag);
      await readWhole(fs, '/Docs/a0.txt');
      await eventually(() => (cached('a0.txt') ? true : undefined), 'a0 cached', 20_000);
      // a1's open leaves room for a1 only (the program's own read), none for a guess.
      await readWhole(fs, '/Docs/a1.txt');
      expect(prefetch.pendingCount).toBe(0);
      await eventually(() => (cached('a1.txt') ? true : undefined), 'a1 cached', 20_000);
      expect([cached('a0.txt'), cached('a2.txt')]).toEqual([true, false]);
    } finally {
      for (const c of closers.reverse()) await c();
    }
  });
});
