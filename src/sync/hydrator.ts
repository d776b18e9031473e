// "Files are downloaded on first open": opens an item's content from the cache when a verified copy exists,
// otherwise from one shared streaming download that readers follow as it lands (see ActiveDownload).
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import type { ContentCache } from '../cache/content-cache';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { FileSyncApi } from '../protocol/types';
import { InvalidInputError } from '../shared/errors';
import type { ETag, ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { ActiveDownload, type DownloadCounters, type DownloadTuning } from './active-download';
import { HydrationError } from './errors';

export interface ContentHandle {
  /** Reads up to `length` bytes at `position` into `buffer` (from offset 0); returns the count, 0 at EOF. */
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

export interface HydratorOptions {
  api: FileSyncApi;
  store: MetadataStore;
  cache: ContentCache;
  logger: Logger;
  /** Default 16 MiB. */
  farReadThresholdBytes?: number;
  /** Default 4 MiB. */
  farReadWindowBytes?: number;
  /** When the last handle closes with more than this left to fetch, the download stops. Default 64 MiB. */
  abandonRemainingBytes?: number;
}

export interface HydratorStats extends DownloadCounters {
  downloadsStarted: number;
}

const MIB = 1024 * 1024;
const FAR_READ_THRESHOLD_BYTES = 16 * MIB;
const FAR_READ_WINDOW_BYTES = 4 * MIB;
const ABANDON_REMAINING_BYTES = 64 * MIB;
const MAX_RESUMES = 1;

export class Hydrator {
  private readonly downloads = new Map<string, Promise<ActiveDownload>>();
  /** Every download not yet settled, including cancelled ones still cleaning up. */
  private readonly active = new Set<ActiveDownload>();
  private readonly tuning: DownloadTuning;
  private readonly abandonRemainingBytes: number;
  private readonly counters: HydratorStats = { downloadsStarted: 0, rangeRequests: 0, resumes: 0 };

  constructor(private readonly opts: HydratorOptions) {
    this.tuning = {
      farReadThresholdBytes: opts.farReadThresholdBytes ?? FAR_READ_THRESHOLD_BYTES,
      farReadWindowBytes: opts.farReadWindowBytes ?? FAR_READ_WINDOW_BYTES,
      maxResumes: MAX_RESUMES,
    };
    this.abandonRemainingBytes = opts.abandonRemainingBytes ?? ABANDON_REMAINING_BYTES;
  }

  async open(item: StoredItem): Promise<ContentHandle> {
    if (item.kind !== 'document') throw new InvalidInputError(`${item.id} is a folder, not a document`);
    if (item.size === 0) return emptyHandle;
    const cached = this.opts.cache.openVerified(item.id, item.etag);
    if (cached) return new CachedHandle(cached.fd, cached.release);
    // A download that failed or was abandoned between lookup and acquire is replaced by a fresh one, once.
    for (let attempt = 0; attempt < 2; attempt++) {
      const pending = this.downloadFor(item);
      const dl = await pending;
      if (!dl.isLive || !dl.acquire()) {
        // Finished while we waited: committed → now in the cache; failed → forget it and start afresh.
        const hit = dl.isCommitted ? this.opts.cache.openVerified(item.id, item.etag) : undefined;
        if (hit) return new CachedHandle(hit.fd, hit.release);
        if (this.downloads.get(key(item.id, item.etag)) === pending)
          this.downloads.delete(key(item.id, item.etag));
        continue;
      }
      const unpin = this.opts.cache.pin(item.id, item.etag);
      try {
        const fh = await fsp.open(dl.fill.tempPath, 'r');
        return new FillHandle(dl, fh, () => {
          unpin();
          this.released(dl);
        });
      } catch (err) {
        unpin();
        this.released(dl);
        // The fill was renamed into place between our check and the open: once committed it's a cache hit.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          await dl.settled;
          const hit = this.opts.cache.openVerified(item.id, item.etag);
          if (hit) return new CachedHandle(hit.fd, hit.release);
          continue;
        }
        throw new HydrationError(item.id, `cannot open the cache fill of ${item.id}`, { cause: err });
      }
    }
    throw new HydrationError(item.id, `download of ${item.id} failed twice in a row`);
  }

  stats(): HydratorStats {
    return { ...this.counters };
  }

  /** Bytes the main stream of an in-flight download has written, or undefined when none runs (for tests). */
  async progress(id: ItemId, etag: ETag): Promise<number | undefined> {
    const dl = this.downloads.get(key(id, etag));
    return dl === undefined ? undefined : (await dl).mainOffset;
  }

  /** Resolves when no download of this version is in flight (committed, failed or never started). */
  async settled(id: ItemId, etag: ETag): Promise<void> {
    const pending = this.downloads.get(key(id, etag));
    if (pending) await (await pending.catch(() => undefined))?.settled;
  }

  /** Cancels every download in flight and waits for them to clean up. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.downloads.values()]);
    const all = [...this.active];
    for (const dl of all) dl.cancel('hydrator closing');
    await Promise.all(all.map((dl) => dl.settled));
  }

  /** The shared download of this version, started if none is live (single flight). */
  private downloadFor(item: StoredItem): Promise<ActiveDownload> {
    const k = key(item.id, item.etag);
    const existing = this.downloads.get(k);
    if (existing) return existing;
    const url = item.downloadUrl;
    if (url === undefined) {
      return Promise.reject(new HydrationError(item.id, `${item.id} (${item.name}) has no download URL`));
    }
    const started = (async () => {
      const fill = await this.opts.cache.beginFill(item.id, item.etag, item.size);
      this.counters.downloadsStarted++;
      const dl = new ActiveDownload(
        item,
        fill,
        url,
        this.opts.api,
        this.opts.logger,
        this.tuning,
        this.counters,
      );
      this.active.add(dl);
      void dl.settled.then(() => this.active.delete(dl));
      // Forget it once settled: a committed version is then found in the cache, a failed one is retried afresh.
      void dl.settled.then(() => {
        if (this.downloads.get(k) === started) this.downloads.delete(k);
      });
      return dl;
    })();
    this.downloads.set(k, started);
    started.catch(() => {
      if (this.downloads.get(k) === started) this.downloads.delete(k);
    });
    return started;
  }

  /** The last handle closed: finish small remainders (they fill the cache cheaply), stop big ones. */
  private released(dl: ActiveDownload): void {
    if (dl.release() > 0 || !dl.isLive) return;
    if (dl.item.size - dl.mainOffset > this.abandonRemainingBytes) {
      this.downloads.delete(key(dl.item.id, dl.item.etag));
      dl.cancel('every handle closed');
    }
  }
}

function key(id: ItemId, etag: ETag): string {
  return `${id}\u0000${etag}`;
}

const emptyHandle: ContentHandle = {
  read: () => Promise.resolve(0),
  close: () => Promise.resolve(),
};

/** A verified local file: synchronous preads, which measured faster than a libuv round trip for cached blocks. */
class CachedHandle implements ContentHandle {
  constructor(
    private readonly fd: number,
    private readonly releaseFile: () => void,
  ) {}

  read(buffer: Buffer, length: number, position: number): Promise<number> {
    try {
      return Promise.resolve(fs.readSync(this.fd, buffer, 0, length, position));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  close(): Promise<void> {
    this.releaseFile();
    return Promise.resolve();
  }
}

/** Reads a file still being downloaded: waits for the requested range, then preads its own descriptor. */
class FillHandle implements ContentHandle {
  private closed = false;

  constructor(
    private readonly dl: ActiveDownload,
    private readonly fh: fsp.FileHandle,
    private readonly onClose: () => void,
  ) {}

  async read(buffer: Buffer, length: number, position: number): Promise<number> {
    const size = this.dl.item.size;
    if (position >= size || length <= 0) return 0;
    const end = Math.min(size, position + length);
    await this.dl.waitFor(position, end);
    let done = 0;
    while (position + done < end) {
      const { bytesRead } = await this.fh.read(buffer, done, end - position - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
    this.onClose();
  }
}
