// Retry policy for idempotent GETs: network failures, 429/503 and retryable 5xx are repeated up to MAX_ATTEMPTS
// times, waiting Retry-After (capped) or exponential backoff with jitter, always through the injected Clock.
import type { Clock } from '../../shared/clock';
import type { Logger } from '../../shared/logger';
import { isRetryable, ThrottledError } from '../errors';

export const MAX_ATTEMPTS = 4;
export const BASE_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 30_000;
/** A server asking for longer than this is still retried after this long (or the caller gives up sooner). */
export const MAX_RETRY_AFTER_MS = 60_000;

export interface RetryContext {
  clock: Clock;
  logger?: Logger | undefined;
  signal?: AbortSignal | undefined;
  /** Uniform [0,1); injectable so tests can pin the jitter. */
  random?: (() => number) | undefined;
  /** What is being retried, for the log line. */
  what: string;
  /** Asked after each backoff: false (the server is known to be gone) ends the retries with the last failure. */
  mayRetry?: (() => boolean) | undefined;
}

/** Retry-After as delta-seconds or an HTTP-date → milliseconds from `nowMs`; undefined when unusable. */
export function parseRetryAfter(raw: string | undefined, nowMs: number): number | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim();
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Delay before attempt `attempt + 1` (attempt counts from 1). */
export function retryDelayMs(err: unknown, attempt: number, random: () => number): number {
  if (err instanceof ThrottledError && err.retryAfterMs !== undefined) {
    return Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS);
  }
  const ceiling = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (attempt - 1));
  // "Equal jitter": at least half the ceiling, so retries never collapse to zero delay.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export async function withRetry<T>(op: (attempt: number) => Promise<T>, ctx: RetryContext): Promise<T> {
  const random = ctx.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      if (ctx.signal?.aborted || attempt >= MAX_ATTEMPTS || !isRetryable(err)) throw err;
      const delay = retryDelayMs(err, attempt, random);
      ctx.logger?.debug(
        { what: ctx.what, attempt, delayMs: delay, code: (err as { code?: string }).code },
        'retrying request',
      );
      await ctx.clock.sleep(delay, ctx.signal);
      // Asked after the sleep, not before: a reset the probe has meanwhile shown to be a blip is still retried.
      if (ctx.mayRetry?.() === false) throw err;
    }
  }
}
