// One streaming download of one item version into a cache fill, shared by every handle open on that version:
// hashes and counts while streaming, wakes readers as bytes land, serves far-ahead reads with Range requests.
import type { CacheFill } from '../cache/cache-fill';
import type { StoredItem } from '../cache/metadata-store';
import type { FileSyncApi } from '../protocol/types';
import { errorMessage } from '../shared/errors';
import { etagVersion } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { QuickXorHash } from '../shared/quickxorhash';
import { BatchedWriter } from './batched-writer';
import { HydrationError, IntegrityError } from './errors';

/** Largest positional write of downloaded bytes into the cache file. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;

export interface DownloadTuning {
  /** A read starting this far beyond the main stream gets its own Range request instead of waiting. */
  farReadThresholdBytes: number;
  /** Size (and alignment) of the window such a Range request fetches. */
  farReadWindowBytes: number;
  /** How many times a broken main stream is resumed with a Range request from where it stopped. */
  maxResumes: number;
}

export interface DownloadCounters {
  rangeRequests: number;
  resumes: number;
}

export class ActiveDownload {
  /** Bytes of the main stream written so far (it always runs from 0 upward). */
  mainOffset = 0;
  private failure: Error | undefined;
  private committed = false;
  /** Size and hash matched: readers may have every byte, even before the fsync and rename of the commit. */
  private verified = false;
  private handles = 0;
  private readonly controller = new AbortController();
  private readonly windows = new Map<number, Promise<void>>();
  private wakers: Array<() => void> = [];
  /** Settles (never rejects) when the download has committed or failed. */
  readonly settled: Promise<void>;

  constructor(
    readonly item: StoredItem,
    readonly fill: CacheFill,
    private readonly url: string,
    private readonly api: FileSyncApi,
    private readonly logger: Logger,
    private readonly tuning: DownloadTuning,
    private readonly counters: DownloadCounters,
  ) {
    fill.subscribe(() => this.wake());
    this.settled = this.run();
  }

  get isCommitted(): boolean {
    return this.committed;
  }

  get isLive(): boolean {
    return !this.committed && this.failure === undefined;
  }

  /** Registers a handle; false when the download already failed (the caller starts a fresh one). */
  acquire(): boolean {
    if (this.failure !== undefined) return false;
    this.handles++;
    return true;
  }

  /** Drops a handle; returns how many remain. */
  release(): number {
    this.handles = Math.max(0, this.handles - 1);
    return this.handles;
  }

  /** Resolves once bytes [start, end) are in the fill (or the file is complete); rejects with the fill's error. */
  async waitFor(start: number, end: number): Promise<void> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (this.committed || this.verified) return;
      const missing = this.fill.firstMissing(start, end);
      // A read reaching EOF near the main stream also waits for verification, so a reader going through the whole
      // file sees an IntegrityError before EOF. Far reads (Range windows) are served unverified.
      if (missing === undefined && !(end === this.item.size && this.nearMainStream(end))) return;
      if (missing === undefined) {
        await new Promise<void>((resolve) => this.wakers.push(resolve));
        continue;
      }
      if (!this.nearMainStream(missing)) {
        await this.fetchWindow(missing);
        continue;
      }
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  private nearMainStream(offset: number): boolean {
    return offset < this.mainOffset + this.tuning.farReadThresholdBytes;
  }

  /** Stops the transfer; waiting and later reads fail with a HydrationError. */
  cancel(reason: string): void {
    if (!this.isLive) return;
    this.fail(new HydrationError(this.item.id, `download of ${this.item.id} cancelled: ${reason}`));
    this.controller.abort();
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }

  private fail(err: Error): void {
    if (this.failure !== undefined || this.committed) return;
    this.failure = err;
    this.wake();
  }

  private async run(): Promise<void> {
    const { item } = this;
    const hash = new QuickXorHash();
    let resumes = 0;
    for (;;) {
      try {
        await this.stream(hash);
        break;
      } catch (err) {
        if (this.failure !== undefined) break; // cancelled or integrity: already recorded
        if (resumes < this.tuning.maxResumes) {
          resumes++;
          this.counters.resumes++;
          this.logger.warn(
            { id: item.id, offset: this.mainOffset, err: errorMessage(err) },
            'download broke; resuming',
          );
          continue;
        }
        this.logger.warn({ id: item.id, name: item.name, err: errorMessage(err) }, 'download failed');
        this.fail(
          new HydrationError(item.id, `download of ${item.id} failed: ${errorMessage(err)}`, { cause: err }),
        );
      }
    }
    if (this.failure === undefined) await this.verifyAndCommit(hash);
    if (this.failure !== undefined) {
      this.controller.abort();
      await this.fill.abort();
    }
  }

  /** Streams from mainOffset to the end (a Range request when resuming), hashing as it goes. */
  private async stream(hash: QuickXorHash): Promise<void> {
    const { item } = this;
    const start = this.mainOffset;
    const range = start > 0 ? { start } : undefined;
    const dl = await this.api.download(this.url, range, this.controller.signal);
    try {
      // 200 to a Range request is fine: the client cuts the requested slice out of a server's full answer.
      if (dl.status !== 200 && dl.status !== 206) {
        throw new HydrationError(item.id, `download of ${item.id}: unexpected HTTP ${dl.status}`);
      }
      if (dl.totalSize !== undefined && dl.totalSize !== item.size) {
        this.integrityFailure(`server reports ${dl.totalSize} bytes, the item says ${item.size}`);
        return;
      }
      const writer = new BatchedWriter(
        (data, at) => this.fill.write(data, at),
        start,
        (end) => (this.mainOffset = end),
        WRITE_BATCH_BYTES,
      );
      let received = start;
      try {
        for await (const chunk of dl.body) {
          if (this.failure !== undefined) return;
          if (received + chunk.length > item.size) {
            this.integrityFailure(`more than the ${item.size} bytes of DataSize arrived`);
            return;
          }
          received += chunk.length;
          hash.update(chunk);
          await writer.push(chunk);
        }
      } finally {
        // Bytes already received are kept (and mainOffset advanced) even when the stream breaks, so a resume
        // continues after them.
        await writer.flush();
      }
    } finally {
      dl.abort();
    }
  }

  private async verifyAndCommit(hash: QuickXorHash): Promise<void> {
    const { item } = this;
    if (this.mainOffset !== item.size) {
      this.integrityFailure(`${this.mainOffset} bytes arrived, DataSize is ${item.size}`);
      return;
    }
    const digest = hash.digest();
    if (item.hash === undefined) {
      this.logger.warn({ id: item.id, name: item.name }, 'item has no XORHash; only its size was verified');
    } else if (digest !== item.hash) {
      this.integrityFailure(`XORHash ${digest} does not match the item's ${item.hash}`);
      return;
    }
    this.verified = true;
    this.wake();
    try {
      await this.fill.commit();
      this.committed = true;
      this.wake();
    } catch (err) {
      this.fail(
        new HydrationError(item.id, `caching ${item.id} failed: ${errorMessage(err)}`, { cause: err }),
      );
    }
  }

  private integrityFailure(detail: string): void {
    const { item } = this;
    this.logger.error(
      { id: item.id, name: item.name, etag: item.etag },
      `content integrity check failed: ${detail}`,
    );
    this.fail(
      new IntegrityError(item.id, `content of ${item.id} (${item.name}) failed verification: ${detail}`),
    );
  }

  /** Fetches the aligned window holding `offset` with a Range request, once per window at a time. */
  private fetchWindow(offset: number): Promise<void> {
    const size = this.tuning.farReadWindowBytes;
    const start = Math.floor(offset / size) * size;
    let pending = this.windows.get(start);
    if (pending === undefined) {
      pending = this.downloadWindow(start, Math.min(this.item.size, start + size)).finally(() =>
        this.windows.delete(start),
      );
      this.windows.set(start, pending);
    }
    return pending;
  }

  private async downloadWindow(start: number, end: number): Promise<void> {
    const { item } = this;
    this.counters.rangeRequests++;
    try {
      const dl = await this.api.download(this.url, { start, end: end - 1 }, this.controller.signal);
      try {
        if (dl.status !== 200 && dl.status !== 206) {
          throw new HydrationError(item.id, `unexpected HTTP ${dl.status} to a Range request`);
        }
        const served = dl.etag === undefined ? undefined : etagVersion(dl.etag);
        const wanted = etagVersion(item.etag);
        if (served !== undefined && wanted !== undefined && served !== wanted) {
          throw new HydrationError(item.id, `server sent version ${served}, the item is version ${wanted}`);
        }
        let pos = start;
        for await (const chunk of dl.body) {
          if (!this.isLive) return;
          const part = chunk.subarray(0, Math.max(0, end - pos));
          await this.fill.write(part, pos);
          pos += part.length;
          if (pos >= end) break;
        }
        if (pos < end && this.isLive)
          throw new HydrationError(item.id, `range ended at ${pos}, expected ${end}`);
      } finally {
        dl.abort();
      }
    } catch (err) {
      if (this.failure !== undefined) throw this.failure;
      if (this.committed) return;
      throw new HydrationError(item.id, `range read of ${item.id} failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }
}
