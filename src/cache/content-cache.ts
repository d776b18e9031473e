// The content cache: one sparse file per (ResourceID, ETag) version in a directory, its present ranges indexed in
// SQLite, bounded by allocated bytes and free space with LRU eviction that never touches open, dirty or pinned files.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { Clock } from '../shared/clock';
import { systemClock } from '../shared/clock';
import { InvalidInputError } from '../shared/errors';
import type { ETag, ItemId } from '../shared/ids';
import { etagVersion, normaliseGuid } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { silentLogger } from '../shared/logger';
import { ByteRanges } from './byte-ranges';
import type { CacheIndex } from './cache-index';
import { CacheFullError } from './errors';
import type { MetadataStore } from './metadata-store';
import { SparseFile } from './sparse-file';

const FILE_SUFFIX = '.bin';
/** Names this cache makes (`.part` temp files come from the whole-file fills of schema version 1). */
const OWN_FILE = /^[0-9a-f]{32}\.[0-9x]+\.[0-9a-f]{12}\.bin(\.\d+-\d+\.part)?$/;

export interface ContentCacheOptions {
  dir: string;
  /** The metadata store whose database holds the cache index (cache_entries, cache_ranges). */
  store: MetadataStore;
  /** Bound on the allocated bytes of every cached file. */
  maxBytes: number;
  /** Keep at least this much free on the cache's filesystem. Default 0. */
  minFreeBytes?: number;
  logger?: Logger;
  clock?: Clock;
  /** Free bytes of the cache's filesystem (tests inject a fake disk). Default: statfs. */
  freeBytes?: (dir: string) => number;
}

/** A verified cached file opened for reading; keeps the entry safe from eviction until released. */
export interface CachedFile {
  fd: number;
  path: string;
  size: number;
  release: () => void;
}

export interface CacheStats {
  usedBytes: number;
  maxBytes: number;
  hydratedFiles: number;
  partialFiles: number;
}

export interface SweepResult {
  removedFiles: number;
  removedEntries: number;
}

export class ContentCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly minFreeBytes: number;
  private readonly index: CacheIndex;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly freeBytes: (dir: string) => number;
  private readonly pins = new Map<string, number>();
  /** Stale versions dropStale skipped because they were open: dropped when their last pin goes. */
  private readonly staleOpen = new Set<string>();
  /** Bytes promised to fetches in flight (not yet in any entry's allocated size). */
  private reserved = 0;

  private constructor(opts: ContentCacheOptions) {
    this.dir = path.resolve(opts.dir);
    this.index = opts.store.cacheIndex;
    this.maxBytes = opts.maxBytes;
    this.minFreeBytes = opts.minFreeBytes ?? 0;
    this.logger = opts.logger ?? silentLogger();
    this.clock = opts.clock ?? systemClock;
    this.freeBytes = opts.freeBytes ?? statfsFree;
  }

  /** Creates the directory if needed and runs the start-up sweep. */
  static async open(opts: ContentCacheOptions): Promise<ContentCache> {
    const cache = new ContentCache(opts);
    await fsp.mkdir(cache.dir, { recursive: true, mode: 0o700 });
    const swept = cache.sweep();
    if (swept.removedFiles + swept.removedEntries > 0)
      cache.logger.info(swept, 'content cache start-up sweep');
    return cache;
  }

  /** Whether a complete, verified file of this version is cached (no use for LRU). */
  hasVerified(id: ItemId, etag: ETag): boolean {
    return this.index.get(id, etag)?.verified === true;
  }

  /** Opens a complete, verified file (pinned until release), or undefined. Counts as a use for LRU. */
  openVerified(id: ItemId, etag: ETag): CachedFile | undefined {
    const entry = this.index.get(id, etag);
    if (!entry?.verified) return undefined;
    const file = path.join(this.dir, entry.file);
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      fd = -1;
    }
    if (fd < 0 || fs.fstatSync(fd).size !== entry.size) {
      if (fd >= 0) fs.closeSync(fd);
      this.logger.warn(
        { id, etag, file: entry.file },
        'cached file missing or truncated; dropping the entry',
      );
      this.removeEntry(id, etag, entry.file);
      return undefined;
    }
    this.index.touch(id, etag, this.clock.now());
    const unpin = this.pin(id, etag);
    let released = false;
    return {
      fd,
      path: file,
      size: entry.size,
      release: () => {
        if (released) return;
        released = true;
        fs.closeSync(fd);
        unpin();
      },
    };
  }

  /** Opens (creating if needed) the sparse file of a version, with its durable ranges; pinned until closed. */
  async openSparse(id: ItemId, etag: ETag, size: number): Promise<SparseFile> {
    const name = cacheFileName(id, etag);
    const file = path.join(this.dir, name);
    const unpin = this.pin(id, etag);
    let fh: fsp.FileHandle | undefined;
    try {
      let entry = this.index.get(id, etag);
      fh = entry ? await fsp.open(file, 'r+').catch(() => undefined) : undefined;
      if (!entry || !fh || (await fh.stat()).size !== size || entry.size !== size) {
        await fh?.close();
        fh = undefined;
        fh = await fsp.open(file, 'w+', 0o600);
        await fh.truncate(size);
        entry = { id, etag, file: name, size, verified: false, allocated: 0, dirty: false, lastAccessMs: 0 };
        this.index.put({ ...entry, lastAccessMs: this.clock.now() }, []);
      } else {
        this.index.touch(id, etag, this.clock.now());
      }
      const ranges = this.index.ranges(id, etag);
      return new SparseFile(id, etag, size, file, fh, this.index, ranges, entry.verified, unpin);
    } catch (err) {
      // A full disk fails the truncate or SQLite's write: the descriptor must not wait for the garbage collector.
      await fh?.close().catch(() => undefined);
      unpin();
      throw err;
    }
  }

  /**
   * Takes a complete local file (just uploaded by the write path) as the verified content of (id, etag), so the
   * server's copy of our own bytes is never downloaded again. The file is moved, not copied.
   */
  adopt(id: ItemId, etag: ETag, file: string, size: number): void {
    const name = cacheFileName(id, etag);
    const target = path.join(this.dir, name);
    fs.renameSync(file, target);
    const allocated = fs.statSync(target).blocks * 512;
    this.index.put(
      { id, etag, file: name, size, verified: true, allocated, lastAccessMs: this.clock.now() },
      size > 0 ? [[0, size]] : [],
    );
    // The adopted bytes count against the bound like fetched ones: evict older content now, not at the next fetch.
    try {
      this.evictToFit();
    } catch (err) {
      // Only open, pinned or dirty content left: the next fetch that needs room fails with ENOSPC, as documented.
      if (!(err instanceof CacheFullError)) throw err;
    }
  }

  /** Protects a version from eviction until the returned function is called. */
  pin(id: ItemId, etag: ETag): () => void {
    const key = pinKey(id, etag);
    this.pins.set(key, (this.pins.get(key) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.pins.get(key) ?? 1) - 1;
      if (n > 0) {
        this.pins.set(key, n);
        return;
      }
      this.pins.delete(key);
      // The kernel's release comes after close() returns: a version superseded meanwhile goes now, not at the next sync.
      if (this.staleOpen.delete(key)) this.dropStale();
    };
  }

  /**
   * Makes room for `bytes` more (evicting LRU content) and holds them until the returned function is called, once
   * the bytes are accounted in an entry. Throws CacheFullError when only open, pinned or dirty content remains.
   */
  reserve(bytes: number): () => void {
    this.evictToFit(bytes);
    this.reserved += bytes;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.reserved -= bytes;
    };
  }

  /** What `spfs status` reports of the cache: bytes against the bound, whole and partly cached files. */
  stats(): CacheStats {
    const files = this.index.fileCounts();
    return {
      usedBytes: this.usedBytes(),
      maxBytes: this.maxBytes,
      hydratedFiles: files.hydrated,
      partialFiles: files.partial,
    };
  }

  /** Allocated bytes of every cached file (fetches in flight not included). */
  usedBytes(): number {
    return this.index.totalBytes();
  }

  /** Whether `incomingBytes` more fit both bounds as they are, without evicting (fetches ahead use only that). */
  hasRoomFor(incomingBytes: number): boolean {
    const need = this.reserved + incomingBytes;
    const free = this.minFreeBytes > 0 ? this.freeBytes(this.dir) : Number.POSITIVE_INFINITY;
    return this.index.totalBytes() + need <= this.maxBytes && free - need >= this.minFreeBytes;
  }

  /** Evicts least recently used, unopened, clean, unpinned versions until `incomingBytes` more fit both bounds. */
  evictToFit(incomingBytes = 0): void {
    if (this.hasRoomFor(incomingBytes)) return;
    const need = this.reserved + incomingBytes;
    let used = this.index.totalBytes();
    let free = this.minFreeBytes > 0 ? this.freeBytes(this.dir) : Number.POSITIVE_INFINITY;
    const fits = (): boolean => used + need <= this.maxBytes && free - need >= this.minFreeBytes;
    const evicted = { versions: 0, bytes: 0 };
    const summary = (): void => {
      if (evicted.versions > 0)
        this.logger.info({ ...evicted, used, maxBytes: this.maxBytes }, 'cache eviction');
    };
    for (const entry of this.index.evictable()) {
      if (this.pins.has(pinKey(entry.id, entry.etag))) continue;
      this.removeEntry(entry.id, entry.etag, entry.file);
      used -= entry.allocated;
      free += entry.allocated;
      evicted.versions++;
      evicted.bytes += entry.allocated;
      this.logger.debug(
        { id: entry.id, etag: entry.etag, bytes: entry.allocated },
        'evicted from content cache',
      );
      if (fits()) return summary();
    }
    summary();
    const held = this.index.heldBytes();
    const bound =
      used + need > this.maxBytes
        ? `${used} bytes used + ${need} wanted exceed --cache-size ${this.maxBytes}`
        : `${free} bytes free on the cache's disk, --cache-min-free is ${this.minFreeBytes}`;
    // Name the cause: pins are the one a user chose and can undo (spfs unpin / spfs free --unpin).
    const detail =
      `${bound}; what is left cannot be evicted: ${held.pinned} bytes pinned (spfs unpin releases them), ` +
      `${held.dirty} bytes not uploaded yet, the rest open`;
    this.logger.error({ used, need, maxBytes: this.maxBytes, ...held }, `cannot hydrate: ${detail}`);
    throw new CacheFullError(incomingBytes, detail);
  }

  /**
   * Removes files with no index row (or interrupted version-1 fills), rows with no file or of versions the
   * metadata no longer has, and re-measures allocated sizes. Run at start-up, before any fill.
   */
  sweep(): SweepResult {
    const result: SweepResult = { removedFiles: 0, removedEntries: 0 };
    for (const entry of this.index.stale()) {
      this.removeEntry(entry.id, entry.etag, entry.file);
      result.removedEntries++;
    }
    const known = new Set<string>();
    for (const entry of this.index.all()) {
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(path.join(this.dir, entry.file));
      } catch {
        // missing: handled below
      }
      if (st === undefined || st.size !== entry.size) {
        this.removeEntry(entry.id, entry.etag, entry.file);
        result.removedEntries++;
      } else {
        known.add(entry.file);
        // Unrecorded bytes written before a crash still occupy blocks: account what the disk says.
        if (st.blocks * 512 !== entry.allocated)
          this.index.setAllocated(entry.id, entry.etag, st.blocks * 512);
      }
    }
    for (const name of fs.readdirSync(this.dir)) {
      // Only names this cache could have made are removed: a misconfigured directory loses nothing else.
      if (known.has(name) || !OWN_FILE.test(name)) continue;
      fs.rmSync(path.join(this.dir, name), { force: true });
      result.removedFiles++;
    }
    return result;
  }

  /**
   * Drops the cached bytes of versions the metadata no longer has (a remote edit or delete was applied), except
   * versions still open: their handles keep reading them, and the start-up sweep removes them later.
   */
  dropStale(): number {
    let n = 0;
    for (const entry of this.index.stale()) {
      const key = pinKey(entry.id, entry.etag);
      if (this.pins.has(key)) {
        this.staleOpen.add(key);
        continue;
      }
      this.removeEntry(entry.id, entry.etag, entry.file);
      n++;
    }
    return n;
  }

  /**
   * Moves a complete, verified version's file to `dest` and forgets the entry (a local copy takes the bytes over).
   * False, and nothing moved, when the version is not cached whole or a handle holds it open.
   */
  takeOut(id: ItemId, etag: ETag, dest: string): boolean {
    const entry = this.index.get(id, etag);
    if (!entry?.verified || this.isOpen(id, etag)) return false;
    try {
      fs.renameSync(path.join(this.dir, entry.file), dest);
    } catch (err) {
      this.logger.warn({ id, etag, err }, 'cached file missing; dropping the entry');
      this.removeEntry(id, etag, entry.file);
      return false;
    }
    this.index.remove(id, etag);
    return true;
  }

  /** Whether a handle has this version open (reads, fills, a local copy being made from it). */
  isOpen(id: ItemId, etag: ETag): boolean {
    return this.pins.has(pinKey(id, etag));
  }

  /**
   * `spfs free`: drops every cached version of the item that is not open and holds no local change. Returns what
   * went; the caller decides whether the item may be freed at all (pins, pending uploads).
   */
  free(id: ItemId): { files: number; bytes: number; keptOpen: number } {
    const out = { files: 0, bytes: 0, keptOpen: 0 };
    for (const entry of this.index.ofItem(id)) {
      if (entry.dirty) continue;
      if (this.isOpen(entry.id, entry.etag)) {
        out.keptOpen++;
        continue;
      }
      this.removeEntry(entry.id, entry.etag, entry.file);
      out.files++;
      out.bytes += entry.allocated;
    }
    return out;
  }

  /** Durable ranges of a version (for tests and the status of partly hydrated files). */
  presentRanges(id: ItemId, etag: ETag): ByteRanges {
    return this.index.ranges(id, etag);
  }

  private removeEntry(id: ItemId, etag: ETag, file: string): void {
    this.index.remove(id, etag);
    fs.rmSync(path.join(this.dir, file), { force: true });
  }
}

/** `<32-hex id>.<etag version or x>.<12 hex of sha256(etag)>.bin` — never derived from the item's name. */
export function cacheFileName(id: ItemId, etag: ETag): string {
  const hex = normaliseGuid(id);
  if (hex === undefined || hex !== id) throw new InvalidInputError(`not a ResourceID: ${JSON.stringify(id)}`);
  const version = etagVersion(etag);
  const digest = createHash('sha256').update(etag).digest('hex').slice(0, 12);
  return `${hex}.${version ?? 'x'}.${digest}${FILE_SUFFIX}`;
}

function pinKey(id: ItemId, etag: ETag): string {
  return `${id}\u0000${etag}`;
}

function statfsFree(dir: string): number {
  const st = fs.statfsSync(dir);
  return st.bavail * st.bsize;
}
