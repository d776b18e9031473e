// Makes a DownloadStream survive a reset or a truncated body: the rest is fetched with `Range: bytes=<next>-` and
// `If-Range: <ETag>`, so a file that changed meanwhile is never stitched together from two versions (the server then
// answers 200 and the download fails with ChangedDuringDownloadError). A short body is a TruncatedBodyError.
import type { Clock } from '../../shared/clock';
import type { Logger } from '../../shared/logger';
import { ChangedDuringDownloadError, isRetryable, TruncatedBodyError } from '../errors';
import type { ByteRange, DownloadStream } from '../types';
import { downloadStreamOf } from './read-batches';
import { MAX_ATTEMPTS, retryDelayMs } from './retry';

/** Fetches one stream; `ifRange` is sent as If-Range when given. */
export type RangeFetcher = (
  range: ByteRange | undefined,
  ifRange: string | undefined,
) => Promise<DownloadStream>;

export interface ResumeContext {
  clock: Clock;
  logger?: Logger | undefined;
  random?: (() => number) | undefined;
  signal?: AbortSignal | undefined;
  what: string;
  /** Asked after each backoff: false ends the download with the last failure (the server is known gone). */
  mayRetry?: (() => boolean) | undefined;
  /** Hears a broken body at once, before any resume is tried. */
  onFailure?: ((err: unknown) => void) | undefined;
}

/** Bytes the stream should deliver, when known. */
function expectedBytes(range: ByteRange | undefined, total: number | undefined): number | undefined {
  const start = range?.start ?? 0;
  if (range?.end !== undefined)
    return total === undefined ? range.end - start + 1 : Math.min(range.end + 1, total) - start;
  return total === undefined ? undefined : total - start;
}

export async function resumableDownload(
  fetch: RangeFetcher,
  range: ByteRange | undefined,
  ctx: ResumeContext,
): Promise<DownloadStream> {
  const first = await fetch(range, undefined);
  const expected = expectedBytes(range, first.totalSize);
  const start = range?.start ?? 0;
  let current = first;
  let stopped = false;

  async function* chunks(): AsyncGenerator<readonly Uint8Array[]> {
    let delivered = 0;
    let failures = 0;
    for (;;) {
      let failure: unknown;
      try {
        for await (const batch of current.batches) {
          for (const c of batch) delivered += c.length;
          failures = 0;
          yield batch;
        }
        if (stopped || expected === undefined || delivered >= expected) return;
        failure = new TruncatedBodyError(`${ctx.what}: body ended after ${delivered} of ${expected} bytes`);
      } catch (err) {
        failure = err;
      }
      if (stopped || ctx.signal?.aborted) throw failure;
      ctx.onFailure?.(failure);
      if (!isRetryable(failure) || current.etag === undefined || ++failures >= MAX_ATTEMPTS) throw failure;
      await ctx.clock.sleep(retryDelayMs(failure, failures, ctx.random ?? Math.random), ctx.signal);
      if (ctx.mayRetry?.() === false) throw failure;
      const next: ByteRange = { start: start + delivered };
      if (range?.end !== undefined) next.end = range.end;
      ctx.logger?.debug({ what: ctx.what, from: next.start }, 'resuming download');
      const resumed = await fetch(next, current.etag);
      if (resumed.status !== 206) {
        resumed.abort();
        throw new ChangedDuringDownloadError(`${ctx.what}: the file changed while it was downloading`);
      }
      current = resumed;
    }
  }

  return downloadStreamOf({
    status: first.status,
    batches: chunks(),
    abort: () => {
      stopped = true;
      current.abort();
    },
    totalSize: first.totalSize,
    etag: first.etag,
    // Every stream of one download comes from the same client, so the first one's release serves them all.
    release: first.release,
    // A worker write is not resumed here: its caller (the version fetcher) fetches what is still missing.
    writeTo: first.writeTo,
  });
}
