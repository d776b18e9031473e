// The content cache: one file per (ResourceID, ETag) version in a directory, indexed in cache_entries, bounded by
// size with LRU eviction that never touches open or filling files. Names come from the id and etag only.
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
import { CacheFill, type FillOwner } from './cache-fill';
import type { CacheIndex } from './cache-index';
import type { MetadataStore } from './metadata-store';

const TEMP_SUFFIX = '.part';
const FILE_SUFFIX = '.bin';
const OWN_FILE = /^[0-9a-f]{32}\.[0-9x]+\.[0-9a-f]{12}\.bin(\.\d+-\d+\.part)?$/;

export interface ContentCacheOptions {
  dir: string;
  /** The metadata store whose database holds the cache index (cache_entries). */
  store: MetadataStore;
  maxBytes: number;
  logger?: Logger;
  clock?: Clock;
}

/** A verified cached file opened for reading; keeps the entry safe from eviction until released. */
export interface CachedFile {
  fd: number;
  path: string;
  size: number;
  release: () => void;
}

export interface SweepResult {
  removedFiles: number;
  removedEntries: number;
}

let tempSeq = 0;

export class ContentCache implements FillOwner {
  readonly dir: string;
  readonly maxBytes: number;
  private readonly index: CacheIndex;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly pins = new Map<string, number>();
  private readonly fills = new Set<CacheFill>();

  private constructor(opts: ContentCacheOptions) {
    this.dir = path.resolve(opts.dir);
    this.index = opts.store.cacheIndex;
    this.maxBytes = opts.maxBytes;
    this.logger = opts.logger ?? silentLogger();
    this.clock = opts.clock ?? systemClock;
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

  /** Path of a complete, verified file for this version, or undefined. Counts as a use for LRU. */
  lookup(id: ItemId, etag: ETag): string | undefined {
    const entry = this.index.get(id, etag);
    if (!entry?.verified) return undefined;
    const file = path.join(this.dir, entry.file);
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch {
      size = -1;
    }
    if (size !== entry.size) {
      this.logger.warn(
        { id, etag, file: entry.file },
        'cached file missing or truncated; dropping the entry',
      );
      this.index.remove(id, etag);
      fs.rmSync(file, { force: true });
      return undefined;
    }
    this.index.touch(id, etag, this.clock.now());
    return file;
  }

  /** Opens a verified cached file (pinned until release), or undefined on a miss. */
  openVerified(id: ItemId, etag: ETag): CachedFile | undefined {
    const file = this.lookup(id, etag);
    if (file === undefined) return undefined;
    const fd = fs.openSync(file, 'r');
    const unpin = this.pin(id, etag);
    let released = false;
    return {
      fd,
      path: file,
      size: fs.fstatSync(fd).size,
      release: () => {
        if (released) return;
        released = true;
        fs.closeSync(fd);
        unpin();
      },
    };
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
      if (n <= 0) this.pins.delete(key);
      else this.pins.set(key, n);
    };
  }

  /** Starts filling a version: makes room for `size` bytes, creates the temp file. */
  async beginFill(id: ItemId, etag: ETag, size: number): Promise<CacheFill> {
    const finalName = cacheFileName(id, etag);
    this.evictToFit(size);
    const tempPath = path.join(this.dir, `${finalName}.${process.pid}-${++tempSeq}${TEMP_SUFFIX}`);
    const fh = await fsp.open(tempPath, 'w+', 0o600);
    const fill = new CacheFill(id, etag, size, tempPath, finalName, fh, this);
    this.fills.add(fill);
    return fill;
  }

  /** Bytes held by verified entries (fills in progress not included). */
  usedBytes(): number {
    return this.index.totalBytes();
  }

  /** Evicts least recently used, unpinned entries until `incomingBytes` more would fit under maxBytes. */
  evictToFit(incomingBytes = 0): void {
    let reserved = incomingBytes;
    for (const f of this.fills) reserved += f.size;
    let used = this.index.totalBytes();
    if (used + reserved <= this.maxBytes) return;
    for (const entry of this.index.byLastAccess()) {
      if (used + reserved <= this.maxBytes) break;
      if (this.pins.has(pinKey(entry.id, entry.etag))) continue;
      this.index.remove(entry.id, entry.etag);
      fs.rmSync(path.join(this.dir, entry.file), { force: true });
      used -= entry.size;
      this.logger.debug({ id: entry.id, etag: entry.etag, size: entry.size }, 'evicted from content cache');
    }
  }

  /**
   * Removes temp files (fills interrupted by a crash), files with no index row, rows with no file or of versions
   * the metadata no longer has. Run at start-up, before any fill.
   */
  sweep(): SweepResult {
    const result: SweepResult = { removedFiles: 0, removedEntries: 0 };
    for (const entry of this.index.stale()) {
      this.index.remove(entry.id, entry.etag);
      result.removedEntries++;
    }
    const known = new Map<string, number>();
    for (const entry of this.index.all()) {
      let size = -1;
      try {
        size = fs.statSync(path.join(this.dir, entry.file)).size;
      } catch {
        // missing: handled below
      }
      if (!entry.verified || size !== entry.size) {
        this.index.remove(entry.id, entry.etag);
        result.removedEntries++;
      } else {
        known.set(entry.file, entry.size);
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

  /** @internal FillOwner: the bytes are fsynced and closed; rename, make the rename durable, then index. */
  async finishCommit(fill: CacheFill): Promise<string> {
    this.fills.delete(fill);
    const finalPath = path.join(this.dir, fill.finalName);
    await fsp.rename(fill.tempPath, finalPath);
    await fsyncDir(this.dir);
    this.index.put({
      id: fill.id,
      etag: fill.etag,
      file: fill.finalName,
      size: fill.size,
      verified: true,
      lastAccessMs: this.clock.now(),
    });
    this.evictToFit();
    return finalPath;
  }

  /** @internal FillOwner */
  finishAbort(fill: CacheFill): void {
    this.fills.delete(fill);
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

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
