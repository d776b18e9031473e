// "Files are downloaded as they are read": opens an item's content from a verified cached file when there is one,
// otherwise through the version's VersionFetcher, which fetches only the ranges reads (and read-ahead) need.
import * as fs from 'node:fs';
import type { ContentCache } from '../cache/content-cache';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { FileSyncApi } from '../protocol/types';
import { InvalidInputError } from '../shared/errors';
import type { ETag, ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { OfflineError } from './connectivity';
import { HydrationError, IntegrityError } from './errors';
import { DEFAULT_READ_AHEAD, ReadAhead, type ReadAheadOptions } from './read-ahead';
import { VersionFetcher, type FetchCounters } from './version-fetcher';

/**
 * Given where asked bytes are, all present: a descriptor, an offset and a length. Called synchronously right after
 * they were found present, so the descriptor is open and the bytes there for as long as it runs; returns a count.
 */
export type ByteSink = (fd: number, position: number, length: number) => number;

export interface ContentHandle {
  /**
   * Hands up to `length` bytes at `position` to `take` once they are all present (fetching them first if needed);
   * resolves to what `take` returned, or 0 at EOF without calling it. A read copies from the descriptor; the
   * libfuse3 adapter has the kernel splice from it.
   */
  readWith(length: number, position: number, take: ByteSink): Promise<number>;
  close(): Promise<void>;
}

/** The sink of a plain read: copies the bytes into `buffer` from its offset 0. */
export function copyInto(buffer: Buffer): ByteSink {
  return (fd, pos, len) => fs.readSync(fd, buffer, 0, len, pos);
}

/** A plain read on top of readWith: into `buffer` from its offset 0; returns the count, 0 at EOF. */
export function readInto(
  h: ContentHandle,
  buffer: Buffer,
  length: number,
  position: number,
): Promise<number> {
  return h.readWith(length, position, copyInto(buffer));
}

/** A synchronous step as a settled promise (a throw becomes a rejection, as from an async function). */
export function settledNow(step: () => number): Promise<number> {
  try {
    return Promise.resolve(step());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** `ranges`: fetch what reads need. `full`: also fetch the rest of every opened file in the background. */
export type HydrateMode = 'ranges' | 'full';

export interface HydratorOptions {
  api: FileSyncApi;
  store: MetadataStore;
  cache: ContentCache;
  logger: Logger;
  hydrate?: HydrateMode;
  readAhead?: ReadAheadOptions;
  /** Size of each background request in `full` mode. Default 64 MiB. */
  fullChunkBytes?: number;
  /** Offline: content that is not cached fails at once (OfflineError) instead of trying the network. */
  connectivity?: { readonly online: boolean; reportFailure(err: unknown): boolean };
  /**
   * The server serves another version than the stored metadata names (another size or ETag): the file changed
   * since the last sync, so the caller syncs now (MS-FILESYNC: on a mismatch re-run the change enumeration, E7) and
   * returns that sync, which an open of the file waits for before it fails (VersionChangedError).
   */
  versionChanged?: (item: StoredItem) => Promise<void> | void;
}

export type HydratorStats = FetchCounters;

const FULL_CHUNK_BYTES = 64 * 1024 * 1024;
/** One request of hydrateWhole: small enough that a foreground read waits for at most one. */
const WHOLE_CHUNK_BYTES = 8 * 1024 * 1024;

export class Hydrator {
  private readonly fetchers = new Map<string, Promise<VersionFetcher>>();
  private readonly live = new Map<string, VersionFetcher>();
  private readonly closing = new Map<string, Promise<void>>();
  /** Versions that failed verification twice: reads fail until the item changes (or the daemon restarts). */
  private readonly bad = new Map<string, Error>();
  private readonly counters: HydratorStats = { fetches: 0, bytesRequested: 0, verifyFailures: 0 };

  constructor(private readonly opts: HydratorOptions) {}

  async open(item: StoredItem): Promise<ContentHandle> {
    if (item.kind !== 'document') throw new InvalidInputError(`${item.id} is a folder, not a document`);
    if (item.size === 0) return emptyHandle;
    const k = key(item.id, item.etag);
    const bad = this.bad.get(k);
    if (bad !== undefined) throw bad;
    // A fetcher of this version closing now may be recording its verification (a sibling fetched ahead, just done).
    const closing = this.fetchers.has(k) ? undefined : this.closing.get(k);
    if (closing !== undefined) await closing.catch(() => undefined);
    const cached = this.opts.cache.openVerified(item.id, item.etag);
    if (cached) return new CachedHandle(cached.fd, cached.release);
    const net = this.opts.connectivity;
    if (net !== undefined && !net.online)
      throw new OfflineError(`${item.name} is not available offline (the server is unreachable)`);
    let f = await this.fetcherFor(item);
    if (f.isClosed) f = await this.fetcherFor(item); // its last handle closed while we waited: a fresh one
    f.handles++;
    const readAhead = this.opts.readAhead ?? DEFAULT_READ_AHEAD;
    const handle = new RangeHandle(
      f,
      new ReadAhead(readAhead),
      () => {
        f.handles--;
        this.maybeClose(f);
      },
      net,
    );
    try {
      // Nothing of this version here yet: the first read's fetch starts now, and the open returns once the server
      // has shown it still serves this version (an open never binds a version it could only serve in part).
      await f.confirmVersion(readAhead.minBytes);
    } catch (err) {
      await handle.close();
      throw err;
    }
    if (this.opts.hydrate === 'full')
      f.startBackgroundFill(this.opts.fullChunkBytes ?? FULL_CHUNK_BYTES, () => this.maybeClose(f));
    return handle;
  }

  /** The version's verified cached file, or undefined (nothing is downloaded): what a replaced inode keeps. */
  openCached(item: StoredItem): ContentHandle | undefined {
    if (item.kind !== 'document') return undefined;
    if (item.size === 0) return emptyHandle;
    const cached = this.opts.cache.openVerified(item.id, item.etag);
    return cached ? new CachedHandle(cached.fd, cached.release) : undefined;
  }

  /**
   * Downloads the whole current version into the cache and verifies it (pinned files), chunk by chunk: `between`
   * is awaited before each chunk, so that foreground reads go first. Shares the version's fetcher with open
   * handles. Resolves once every byte is present and the content verified.
   */
  async hydrateWhole(item: StoredItem, between: () => Promise<void>): Promise<void> {
    if (item.kind !== 'document' || item.size === 0) return;
    const bad = this.bad.get(key(item.id, item.etag));
    if (bad !== undefined) throw bad;
    let f = await this.fetcherFor(item);
    if (f.isClosed) f = await this.fetcherFor(item);
    f.handles++;
    try {
      const chunk = WHOLE_CHUNK_BYTES;
      for (let pos = 0; pos < item.size;) {
        await between();
        const end = Math.min(item.size, pos + chunk);
        await f.ensure(pos, end, 0); // the chunk reaching EOF also waits for the verification
        pos = end;
      }
    } finally {
      f.handles--;
      this.maybeClose(f);
    }
  }

  stats(): HydratorStats {
    return { ...this.counters };
  }

  /** Resolves once no fetcher of this version is open or closing (its ranges are then recorded). For tests. */
  async settled(id: ItemId, etag: ETag): Promise<void> {
    const k = key(id, etag);
    for (;;) {
      const closing = this.closing.get(k);
      if (closing !== undefined) await closing.catch(() => undefined);
      else if (this.live.has(k)) await new Promise<void>((r) => setTimeout(r, 5));
      else return;
    }
  }

  /** Stops every fetch and closes every file. */
  async close(): Promise<void> {
    const all = await Promise.allSettled([...this.fetchers.values()]);
    this.fetchers.clear();
    this.live.clear();
    await Promise.all(this.closing.values());
    await Promise.all(all.map((r) => (r.status === 'fulfilled' ? r.value.close() : Promise.resolve())));
  }

  private fetcherFor(item: StoredItem): Promise<VersionFetcher> {
    const k = key(item.id, item.etag);
    const existing = this.fetchers.get(k);
    if (existing) return existing;
    const url = item.downloadUrl;
    if (url === undefined)
      return Promise.reject(new HydrationError(item.id, `${item.id} (${item.name}) has no download URL`));
    const started = (async () => {
      // Not beside one still closing: it may be recording the verification, which this one would redo from disk.
      await this.closing.get(k)?.catch(() => undefined);
      const file = await this.opts.cache.openSparse(item.id, item.etag, item.size);
      const { api, cache, logger } = this.opts;
      const net = this.opts.connectivity;
      const f = new VersionFetcher(
        item,
        file,
        url,
        api,
        cache,
        logger,
        this.counters,
        () => net?.online ?? true,
        () => this.opts.versionChanged?.(item),
      );
      this.live.set(k, f);
      return f;
    })();
    this.fetchers.set(k, started);
    started.catch(() => {
      if (this.fetchers.get(k) === started) this.fetchers.delete(k);
    });
    return started;
  }

  /** Closes a fetcher nobody reads and no background fill uses; remembers a version that failed verification. */
  private maybeClose(f: VersionFetcher): void {
    if (f.handles > 0 || f.backgroundRunning) return;
    const k = key(f.item.id, f.item.etag);
    if (f.error instanceof IntegrityError) this.bad.set(k, f.error);
    if (this.live.get(k) === f) {
      this.live.delete(k);
      this.fetchers.delete(k);
    }
    const closing = f.close().finally(() => {
      if (this.closing.get(k) === closing) this.closing.delete(k);
    });
    this.closing.set(k, closing);
  }
}

function key(id: ItemId, etag: ETag): string {
  return `${id}\u0000${etag}`;
}

const emptyHandle: ContentHandle = {
  readWith: () => Promise.resolve(0),
  close: () => Promise.resolve(),
};

/** A verified local file: synchronous preads, which measured faster than a libuv round trip for cached blocks. */
class CachedHandle implements ContentHandle {
  constructor(
    private readonly fd: number,
    private readonly releaseFile: () => void,
  ) {}

  readWith(length: number, position: number, take: ByteSink): Promise<number> {
    return length <= 0 ? Promise.resolve(0) : settledNow(() => take(this.fd, position, length));
  }

  close(): Promise<void> {
    this.releaseFile();
    return Promise.resolve();
  }
}

/** A file being hydrated range by range: each read waits for its bytes (fetching them), then preads. */
class RangeHandle implements ContentHandle {
  private closed = false;

  constructor(
    private readonly f: VersionFetcher,
    private readonly readAhead: ReadAhead,
    private readonly onClose: () => void,
    private readonly net: HydratorOptions['connectivity'],
  ) {}

  readWith(length: number, position: number, take: ByteSink): Promise<number> {
    const size = this.f.item.size;
    if (position >= size || length <= 0) return Promise.resolve(0);
    const end = Math.min(size, position + length);
    const ahead = this.readAhead.next(position, end - position);
    if (this.f.readyNow(position, end, ahead)) {
      return settledNow(() => take(this.f.file.fd, position, end - position));
    }
    return this.readWhenPresent(take, position, end, ahead);
  }

  private async readWhenPresent(
    take: ByteSink,
    position: number,
    end: number,
    ahead: number,
  ): Promise<number> {
    // Bytes that are not here while offline fail at once, as an open of uncached content does (the kernel reads
    // again after a failed read-ahead; that read must not start a fetch nobody can answer).
    if (this.net !== undefined && !this.net.online)
      throw new OfflineError(
        `${this.f.item.name}: this part is not available offline (the server is unreachable)`,
      );
    try {
      await this.f.ensure(position, end, ahead);
    } catch (err) {
      this.net?.reportFailure(err);
      throw err;
    }
    return take(this.f.file.fd, position, end - position);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.onClose();
    }
    return Promise.resolve();
  }
}
