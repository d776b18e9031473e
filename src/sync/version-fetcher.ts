// One cached version being read: fetches only the missing ranges (Range requests, one per gap: concurrent reads of
// a range share it), wakes readers as bytes land, records ranges once fsynced, verifies the file once complete.
import type { ContentCache } from '../cache/content-cache';
import { CacheFullError } from '../cache/errors';
import type { StoredItem } from '../cache/metadata-store';
import type { SparseFile } from '../cache/sparse-file';
import type { DownloadStream, FileSyncApi } from '../protocol/types';
import { errorMessage } from '../shared/errors';
import { etagVersion } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { BatchedWriter } from './batched-writer';
import { HydrationError, IntegrityError, VersionChangedError } from './errors';
import { PrefixHasher } from './prefix-hasher';

/** Largest positional write of downloaded bytes into the cache file. */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * Read-ahead fetches in flight per version at most (a fetch for bytes a reader is waiting on always starts). The
 * doubling window otherwise starts a request per doubling within the first milliseconds of a `cat`, and seven
 * parallel downloads of a cold file crowd out the FUSE replies the reader is waiting for: about +8 % on a cold
 * 256 MiB read with two (measured A/B, docs/BENCHMARKS.md).
 */
export const MAX_READ_AHEAD_FETCHES = 2;
/** A read whose fetch broke starts one more before failing. */
const MAX_FETCH_RETRIES = 1;

export interface FetchCounters {
  /** Range requests sent. */
  fetches: number;
  /** Bytes those requests asked for. */
  bytesRequested: number;
  verifyFailures: number;
}

interface Fetch {
  start: number;
  end: number;
  controller: AbortController;
  done: Promise<void>;
  /** Set when the fetch failed (a waiter woken by the same event may not see `done` reject first). */
  error?: Error;
  /** Settles once the server's answer was checked: with the error if it serves another version, else undefined. */
  head: Promise<VersionChangedError | undefined>;
  headSeen: (changed: VersionChangedError | undefined) => void;
}

export class VersionFetcher {
  /** Open handles; the Hydrator closes the fetcher when none remain and no background fill runs. */
  handles = 0;
  private readonly inflight = new Set<Fetch>();
  private wakers: Array<() => void> = [];
  private failure: Error | undefined;
  private contentOk: boolean;
  private verifyAttempts = 0;
  private resetting: Promise<void> | undefined;
  private closed = false;
  /**
   * The last read-ahead failed (cache full, offline: failures that come without any I/O). No read-ahead until a
   * read has to wait again or a fetch succeeds: each failure wakes the waiting reads, whose loop would start it again,
   * a microtask spin that starves the event loop and grows the heap until the daemon dies.
   */
  private aheadRefused = false;
  private background: Promise<void> | undefined;
  /** Recording a successful verification (persist, then the verified flag). */
  private recording: Promise<void> = Promise.resolve();
  private readonly hasher: PrefixHasher;
  /** A fetch's answer showed the server serves this version. */
  private confirmed = false;
  /** The sync started when an answer showed another version (it settles when that sync has ended). */
  private resynced: Promise<void> | undefined;

  constructor(
    readonly item: StoredItem,
    readonly file: SparseFile,
    private readonly url: string,
    private readonly api: FileSyncApi,
    private readonly cache: ContentCache,
    private readonly logger: Logger,
    private readonly counters: FetchCounters,
    /** false while the server is known to be unreachable: a broken fetch is not started again. */
    private readonly mayRetry: () => boolean = () => true,
    /**
     * Told when the server answers with another version than `item` (its size or ETag differ); may return the sync
     * it started, which an open waits for (confirmVersion).
     */
    private readonly versionChanged: () => Promise<void> | void = () => undefined,
  ) {
    this.contentOk = file.verified;
    this.hasher = new PrefixHasher(file, (digest) => this.onDigest(digest));
    if (!this.contentOk) this.hasher.poke();
  }

  get error(): Error | undefined {
    return this.failure;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get backgroundRunning(): boolean {
    return this.background !== undefined;
  }

  /**
   * The synchronous half of ensure(): true when [start, end) can be read right now (present, and verified if it
   * reaches EOF), after starting whatever read-ahead is due. Sequential reads mostly land here, sparing a chain of
   * promises per 128 KiB FUSE read.
   */
  readyNow(start: number, end: number, aheadBytes: number): boolean {
    if (this.resetting || this.failure !== undefined || this.closed) return false;
    if (this.file.present.firstMissing(start, end) !== undefined) return false;
    // The last read of a complete file waits for its verification.
    if (end === this.item.size && !this.contentOk && this.file.complete) return false;
    this.readAhead(end, aheadBytes);
    return true;
  }

  /** Resolves once [start, end) is present (and, for a read reaching EOF of a complete file, verified). */
  async ensure(start: number, end: number, aheadBytes: number): Promise<void> {
    let retries = 0;
    this.aheadRefused = false; // one read-ahead attempt per read that has to wait
    for (;;) {
      if (this.resetting) await this.resetting;
      if (this.failure !== undefined) throw this.failure;
      if (this.closed) throw new HydrationError(this.item.id, `${this.item.id} was closed while being read`);
      if (this.readyNow(start, end, aheadBytes)) return;
      const missing = this.file.present.firstMissing(start, end);
      if (missing === undefined) {
        await this.nextWake(); // present, but waiting for verification (see readyNow)
        continue;
      }
      const fetch =
        this.fetchCovering(missing) ??
        this.startFetch(missing, this.claimEnd(missing, Math.max(end, missing + aheadBytes)));
      this.readAhead(end, aheadBytes);
      try {
        await Promise.race([fetch.done, this.nextWake()]);
        if (fetch.error !== undefined) throw fetch.error;
      } catch (err) {
        if (
          err instanceof IntegrityError ||
          err instanceof CacheFullError ||
          err instanceof VersionChangedError
        )
          throw err;
        if (this.closed || retries++ >= MAX_FETCH_RETRIES || !this.mayRetry()) throw err;
        this.logger.warn(
          { id: this.item.id, offset: missing, err: errorMessage(err) },
          'range fetch broke; retrying',
        );
      }
    }
  }

  /**
   * For an open of a version none of whose bytes are here, before it serves any: starts the fetch a read from the
   * start needs first, [0, firstBytes), and waits until the server's answer shows which version it serves. Rejects
   * with VersionChangedError, once the sync that started has ended, when it serves another: the version this open
   * bound can no longer be served whole. Resolves on any other outcome (a read then meets a failed fetch as before).
   */
  async confirmVersion(firstBytes: number): Promise<void> {
    if (this.confirmed || this.contentOk || this.closed || this.file.present.totalBytes() > 0) return;
    const f = this.fetchCovering(0) ?? this.startFetch(0, this.claimEnd(0, firstBytes));
    const changed = await f.head;
    if (changed === undefined) return;
    await this.resynced;
    throw changed;
  }

  /** `--hydrate full`: fetches the rest of the file in large chunks, in order, in the background. */
  startBackgroundFill(chunkBytes: number, onDone: () => void): void {
    if (this.background || this.contentOk) return;
    this.background = (async () => {
      let failures = 0;
      while (!this.closed && this.failure === undefined) {
        if (this.resetting) await this.resetting;
        const gap = this.file.present.firstMissing(0, this.item.size);
        if (gap === undefined) break;
        const f = this.fetchCovering(gap) ?? this.startFetch(gap, this.claimEnd(gap, gap + chunkBytes));
        try {
          await f.done;
          failures = 0;
        } catch (err) {
          if (this.closed || ++failures > MAX_FETCH_RETRIES || !this.mayRetry()) {
            this.logger.warn({ id: this.item.id, err: errorMessage(err) }, 'background hydration stopped');
            break;
          }
        }
      }
    })().finally(() => {
      this.background = undefined;
      onDone();
    });
  }

  /** Stops every fetch (what arrived is kept and recorded) and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.abortAll();
    await this.background;
    await this.resetting;
    await this.recording;
    await this.file.close();
    this.wake();
  }

  /** Starts a fetch of whatever is unclaimed in [end, end + aheadBytes) once it is worth a request. */
  private readAhead(end: number, aheadBytes: number): void {
    if (aheadBytes <= 0 || this.closed || this.aheadRefused || end >= this.item.size) return;
    const aheadEnd = Math.min(this.item.size, end + aheadBytes);
    // Checked first: this runs on every FUSE read, and with the cap reached the walk below is wasted.
    if (this.inflight.size >= MAX_READ_AHEAD_FETCHES) return; // the next read tries again
    const m = this.firstUnclaimed(end, aheadEnd);
    if (m === undefined) return;
    if (aheadEnd - m < aheadBytes / 2 && aheadEnd < this.item.size) return;
    this.startFetch(m, this.claimEnd(m, aheadEnd), true);
  }

  private firstUnclaimed(start: number, end: number): number | undefined {
    let pos = start;
    for (;;) {
      const m = this.file.present.firstMissing(pos, end);
      if (m === undefined) return undefined;
      const f = this.fetchCovering(m);
      if (f === undefined) return m;
      pos = f.end;
      if (pos >= end) return undefined;
    }
  }

  private fetchCovering(pos: number): Fetch | undefined {
    for (const f of this.inflight) if (f.start <= pos && pos < f.end) return f;
    return undefined;
  }

  /** End of a fetch from the missing offset `from` toward `want`: stops at present bytes or another fetch. */
  private claimEnd(from: number, want: number): number {
    let end = Math.min(this.item.size, Math.max(want, from + 1));
    const gap = this.file.present.gaps(from, end)[0];
    if (gap !== undefined) end = gap[1];
    for (const f of this.inflight) if (f.start > from && f.start < end) end = f.start;
    return end;
  }

  private startFetch(start: number, end: number, readAhead = false): Fetch {
    let headSeen: Fetch['headSeen'] = () => undefined;
    const head = new Promise<VersionChangedError | undefined>((r) => (headSeen = r));
    const f: Fetch = {
      start,
      end,
      controller: new AbortController(),
      done: Promise.resolve(),
      head,
      headSeen,
    };
    const run = this.runFetch(f).then(
      () => {
        this.aheadRefused = false;
      },
      (err: unknown) => {
        // Set before the waiters wake: their loop must not start the same failing read-ahead again at once.
        if (readAhead) this.aheadRefused = true;
        throw err;
      },
    );
    f.done = run.finally(() => {
      this.inflight.delete(f);
      this.wake();
    });
    f.done.catch(() => undefined); // waiters observe the error; nobody may leave it unhandled
    this.inflight.add(f);
    return f;
  }

  private async runFetch(f: Fetch): Promise<void> {
    const { item, file } = this;
    let release = (): void => undefined;
    try {
      release = this.cache.reserve(f.end - f.start);
      this.counters.fetches++;
      this.counters.bytesRequested += f.end - f.start;
      const dl = await this.api.download(this.url, { start: f.start, end: f.end - 1 }, f.controller.signal);
      try {
        // 200 to a Range request is fine: the client cuts the requested slice out of a server's full answer.
        if (dl.status !== 200 && dl.status !== 206)
          throw new HydrationError(item.id, `download of ${item.id}: unexpected HTTP ${dl.status}`);
        if (dl.totalSize !== undefined && dl.totalSize !== item.size)
          throw this.otherVersion(f, `server reports ${dl.totalSize} bytes, DataSize is ${item.size}`);
        const served = dl.etag === undefined ? undefined : etagVersion(dl.etag);
        const wanted = etagVersion(item.etag);
        if (served !== undefined && wanted !== undefined && served !== wanted)
          throw this.otherVersion(f, `server sent version ${served}, the item is version ${wanted}`);
        this.confirmed = true;
        f.headSeen(undefined);
        const pos =
          dl.writeTo !== undefined
            ? await this.fillFromWorker(f, dl.writeTo)
            : await this.fillFromBatches(f, dl);
        if (pos < f.end && !this.closed)
          throw new HydrationError(item.id, `range of ${item.id} ended at ${pos}, expected ${f.end}`);
      } finally {
        dl.abort();
      }
    } catch (err) {
      f.error =
        err instanceof IntegrityError || err instanceof CacheFullError || err instanceof VersionChangedError
          ? err
          : new HydrationError(item.id, `range read of ${item.id} failed: ${errorMessage(err)}`, {
              cause: err,
            });
      throw f.error;
    } finally {
      f.headSeen(undefined); // no answer, or a failed one: a read meets that error itself
      // Recorded only now, after fsync: a crash mid-fetch leaves these bytes unrecorded, to be fetched again.
      await file
        .persist()
        .catch((e: unknown) => this.logger.warn({ id: item.id, err: e }, 'recording ranges failed'));
      release();
    }
  }

  /** The body comes here in batches: written in order (coalesced), hashed from memory. Returns where it ended. */
  private async fillFromBatches(f: Fetch, dl: DownloadStream): Promise<number> {
    const writer = new BatchedWriter(
      (data, at) => this.file.write(data, at),
      f.start,
      (chunks, at) => {
        this.wake();
        this.hasher.offer(chunks, at);
        // Written and hashed: readers read the file, not these buffers, so they may be reused.
        dl.release?.(chunks);
      },
      WRITE_BATCH_BYTES,
    );
    let pos = f.start;
    try {
      for await (const batch of dl.batches) {
        if (this.closed) break;
        const parts: Uint8Array[] = [];
        for (const chunk of batch) {
          const part = chunk.length > f.end - pos ? chunk.subarray(0, f.end - pos) : chunk;
          pos += part.length;
          parts.push(part);
          if (pos >= f.end) break;
        }
        await writer.push(...parts);
        if (pos >= f.end) break;
      }
    } finally {
      await writer.flush();
    }
    return pos;
  }

  /**
   * The download worker writes the range into the file itself; each landed piece is recorded and its hash lanes
   * merged here. Returns where it ended.
   */
  private async fillFromWorker(f: Fetch, writeTo: NonNullable<DownloadStream['writeTo']>): Promise<number> {
    const { file } = this;
    let pos = f.start;
    await writeTo(file.fd, f.start, f.end - f.start, (at, n, lanes) => {
      if (this.closed || !file.noteWritten(at, at + n)) return;
      pos = at + n;
      this.wake();
      this.hasher.offerLanes(lanes, n, at);
    });
    return pos;
  }

  private onDigest(digest: string): void {
    const { item } = this;
    if (this.closed || !this.file.complete) return;
    if (item.hash === undefined) {
      this.logger.warn({ id: item.id, name: item.name }, 'item has no XORHash; only its size was verified');
    } else if (digest !== item.hash) {
      this.verificationFailed(`XORHash ${digest} does not match the item's ${item.hash}`);
      return;
    }
    this.contentOk = true;
    this.wake();
    this.recording = this.file
      .persist()
      .then(() => this.file.markVerified())
      .catch((err: unknown) => this.logger.warn({ id: item.id, err }, 'recording verification failed'));
  }

  /** First failure: drop every byte and fetch the whole file again. Second: fail reads with EIO. */
  private verificationFailed(detail: string): void {
    const { item } = this;
    this.counters.verifyFailures++;
    const final = this.verifyAttempts++ > 0;
    this.logger.error(
      { id: item.id, name: item.name, etag: item.etag, refetch: !final },
      `content integrity check failed: ${detail}`,
    );
    const err = final ? this.integrityFailure(detail) : undefined;
    this.resetting = (async () => {
      await this.abortAll();
      await this.file.drop();
      this.hasher.reset();
      if (err !== undefined) this.failure = err;
      else if (!this.closed) this.startFetch(0, item.size);
    })()
      .catch((e: unknown) => {
        this.failure ??= new HydrationError(item.id, `dropping bad content failed: ${errorMessage(e)}`);
      })
      .finally(() => {
        this.resetting = undefined;
        this.wake();
      });
  }

  /** The server answered with another version: sync now (MS-FILESYNC: on a mismatch re-run E7), tell the head. */
  private otherVersion(f: Fetch, detail: string): VersionChangedError {
    const { item } = this;
    const err = new VersionChangedError(
      item.id,
      `${item.id} (${item.name}) changed on the server: ${detail}`,
    );
    this.resynced = Promise.resolve(this.versionChanged()).catch(() => undefined);
    f.headSeen(err);
    return err;
  }

  private integrityFailure(detail: string): IntegrityError {
    const { item } = this;
    return new IntegrityError(item.id, `content of ${item.id} (${item.name}) failed verification: ${detail}`);
  }

  private async abortAll(): Promise<void> {
    const all = [...this.inflight];
    for (const f of all) f.controller.abort();
    await Promise.allSettled(all.map((f) => f.done));
  }

  private nextWake(): Promise<void> {
    return new Promise<void>((resolve) => this.wakers.push(resolve));
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const w of wakers) w();
  }
}
