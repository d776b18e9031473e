// The global pacer: one token bucket (GCRA) shared by every request of a client, so that after throttling the
// server sees fewer requests, not more. Background work (crawl, full pass, subscriptions) may use only half the
// burst and reserves a slot only when it is due, so foreground reads find a free slot while it runs, and slows
// further when the server's X-SharePointHealthScore says it is loaded. All waiting goes through the injected Clock.
import type { Clock } from '../../shared/clock';

export type RequestPriority = 'foreground' | 'background';

export interface PacerOptions {
  clock: Clock;
  /** Sustained requests per second when the server is happy. */
  maxRatePerSecond?: number;
  /** Floor the rate never drops below, however often we are throttled. */
  minRatePerSecond?: number;
  /** Requests allowed back to back before pacing starts. */
  burst?: number;
}

export const DEFAULT_MAX_RATE_PER_SECOND = 100;
export const DEFAULT_MIN_RATE_PER_SECOND = 0.5;
export const DEFAULT_BURST = 32;
/** X-SharePointHealthScore at or above which background requests are slowed (digest §5). */
export const BUSY_HEALTH_SCORE = 8;
/** Background requests' spacing multiplier while the server reports a busy health score. */
export const BUSY_BACKGROUND_FACTOR = 4;
/** Longest a background request lets foreground requests take the slots it waits for. */
export const BACKGROUND_YIELD_MS = 2000;
/** Successes needed to win back one step of rate after a throttle (additive increase). */
const RECOVERY_STEP = 0.1;

export class Pacer {
  private readonly clock: Clock;
  private readonly maxRate: number;
  private readonly minRate: number;
  private readonly burst: number;
  private rate: number;
  /** Theoretical arrival time of the next request (GCRA), in clock ms. */
  private tat = 0;
  private pausedUntil = 0;
  private health = 0;

  constructor(opts: PacerOptions) {
    this.clock = opts.clock;
    this.maxRate = opts.maxRatePerSecond ?? DEFAULT_MAX_RATE_PER_SECOND;
    this.minRate = Math.min(opts.minRatePerSecond ?? DEFAULT_MIN_RATE_PER_SECOND, this.maxRate);
    this.burst = Math.max(1, opts.burst ?? DEFAULT_BURST);
    this.rate = this.maxRate;
  }

  get currentRatePerSecond(): number {
    return this.rate;
  }

  get healthScore(): number {
    return this.health;
  }

  /** How long a request of this priority would wait if it asked now (ms); does not reserve. */
  delayFor(priority: RequestPriority): number {
    return this.compute(priority).wait;
  }

  /**
   * Waits for this request's slot (reserving it). A background request reserves only once its slot is due: until
   * then a foreground request may take it, so a crawl or a full pass running at the full rate leaves reads the
   * whole rate instead of sharing it (docs/BENCHMARKS.md, many small cold files). It yields for
   * BACKGROUND_YIELD_MS at most, so reads at the full rate never starve it.
   */
  async acquire(priority: RequestPriority, signal?: AbortSignal): Promise<void> {
    if (priority === 'background') {
      const start = this.clock.now();
      for (
        let wait = this.compute(priority).wait;
        wait > 0 && this.clock.now() - start < BACKGROUND_YIELD_MS;
        wait = this.compute(priority).wait
      )
        await this.clock.sleep(wait, signal);
    }
    const { wait, nextTat } = this.compute(priority);
    this.tat = nextTat;
    if (wait > 0) await this.clock.sleep(wait, signal);
    // A throttle that came while this request waited for its slot pauses it too: during a crawl dozens of
    // requests hold slots reserved before the 429, and Retry-After means none of them may go before it expires.
    for (
      let pause = this.pausedUntil - this.clock.now();
      pause > 0;
      pause = this.pausedUntil - this.clock.now()
    )
      await this.clock.sleep(pause, signal);
  }

  /** The server throttled us: pause everyone until `retryAfterMs` (when given) and halve the rate. */
  onThrottled(retryAfterMs: number | undefined): void {
    this.rate = Math.max(this.minRate, this.rate / 2);
    if (retryAfterMs !== undefined)
      this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + retryAfterMs);
  }

  /** A request succeeded: win back rate slowly (additive increase). */
  onSuccess(): void {
    if (this.rate < this.maxRate)
      this.rate = Math.min(this.maxRate, this.rate + this.maxRate * RECOVERY_STEP);
  }

  /** The latest X-SharePointHealthScore (0–10). */
  onHealthScore(score: number): void {
    if (Number.isFinite(score) && score >= 0 && score <= 10) this.health = score;
  }

  private compute(priority: RequestPriority): { wait: number; nextTat: number } {
    const now = this.clock.now();
    let interval = 1000 / this.rate;
    if (priority === 'background' && this.health >= BUSY_HEALTH_SCORE) interval *= BUSY_BACKGROUND_FACTOR;
    // Background work may use only half the burst: the other half stays free, so a read that comes during a crawl
    // or a full pass gets its request at once instead of queueing behind them.
    const burst = priority === 'background' ? Math.max(1, Math.floor(this.burst / 2)) : this.burst;
    const tolerance = (burst - 1) * (1000 / this.rate);
    const tat = Math.max(this.tat, now);
    const allowedAt = Math.max(tat - tolerance, this.pausedUntil);
    const wait = Math.max(0, allowedAt - now);
    return { wait, nextTat: Math.max(tat, allowedAt) + interval };
  }
}
