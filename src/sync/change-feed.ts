// Keeps a mounted library current: a subscription's long-poll channel wakes a debounced incremental sync; without a
// channel the change enumeration is polled at the policy interval, and a slow safety poll runs even with one.
// Offline, the sync doubles as the reachability probe: at once when any caller turned the mount offline, then with
// backoff; its success turns the mount online again.
import { HttpStatusError, SubscriptionGoneError } from '../protocol/errors';
import type { FileSyncWriteApi, Subscription } from '../protocol/types';
import type { Clock } from '../shared/clock';
import type { Logger } from '../shared/logger';
import type { Connectivity } from './connectivity';

export type ChangeFeedApi = Pick<
  FileSyncWriteApi,
  'subscribe' | 'renew' | 'unsubscribe' | 'waitForNotification'
>;

export interface ChangeFeedOptions {
  api: ChangeFeedApi;
  /** Runs the incremental change enumeration and applies it (TreeSync.sync). */
  sync: () => Promise<unknown>;
  connectivity: Connectivity;
  clock: Clock;
  logger: Logger;
  /** Poll interval without a channel (the policy's PollingIntervalSeconds, or --poll-interval). Default 120 s. */
  pollIntervalMs?: number;
  /** Poll interval while the channel works. Default 10 min. */
  safetyPollMs?: number;
  /** Notifications arriving within this window share one sync. Default 300 ms. */
  debounceMs?: number;
  /** One long poll's timeout. Default 300 s (the server's cap). */
  longPollS?: number;
  /** Subscription lifetime asked for; renewed at half of it. Default 1 day. */
  lifetimeS?: number;
  /** false: never subscribe, poll only. */
  useChannel?: boolean;
  /** Called after each successful sync (e.g. to drop cached bytes of versions that are gone). */
  afterSync?: () => void;
}

export const DEFAULT_POLL_INTERVAL_MS = 120_000;
export const DEFAULT_SAFETY_POLL_MS = 10 * 60_000;
export const DEFAULT_DEBOUNCE_MS = 300;
const DEFAULT_LONG_POLL_S = 300;
const DEFAULT_LIFETIME_S = 24 * 3600;
/** Offline probe and channel retry backoff: 1 s doubling to 60 s. */
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 60_000;
/** After a server refused subscriptions, try again this much later (it may have gained support). */
const CHANNEL_RETRY_MS = 30 * 60_000;

export class ChangeFeed {
  private readonly o: Required<Omit<ChangeFeedOptions, 'afterSync'>> & Pick<ChangeFeedOptions, 'afterSync'>;
  private readonly stopCtl = new AbortController();
  private wakeCtl = new AbortController();
  private sub: Subscription | undefined;
  private renewAtMs = 0;
  private channelLive = false;
  private dueAtMs: number | undefined;
  private nextPollAtMs = 0;
  private offlineFailures = 0;
  private syncs = 0;
  private loops: Promise<void>[] = [];
  /** Callers of syncNow waiting for a run that starts after their call. */
  private syncWaiters: Array<() => void> = [];
  private unwatch: (() => void) | undefined;

  constructor(opts: ChangeFeedOptions) {
    this.o = {
      pollIntervalMs: DEFAULT_POLL_INTERVAL_MS,
      safetyPollMs: DEFAULT_SAFETY_POLL_MS,
      debounceMs: DEFAULT_DEBOUNCE_MS,
      longPollS: DEFAULT_LONG_POLL_S,
      lifetimeS: DEFAULT_LIFETIME_S,
      useChannel: true,
      ...opts,
    };
  }

  /** Starts the loops; the first sync runs at once (catch-up). */
  start(): void {
    this.nextPollAtMs = this.o.clock.now();
    // Whoever saw the failure (a read, an upload, a listing), the probe runs now: a reset that was only a blip
    // turns the mount online again within one request, before the callers' retries ask whether to go on.
    this.unwatch = this.o.connectivity.onChange((s) => {
      if (s.state === 'offline') this.probeNow();
    });
    this.loops = [this.scheduleLoop()];
    if (this.o.useChannel) this.loops.push(this.channelLoop());
  }

  /** Stops both loops and drops the subscription (best effort). */
  async stop(): Promise<void> {
    this.unwatch?.();
    this.stopCtl.abort(new Error('change feed stopped'));
    this.wakeCtl.abort();
    await Promise.allSettled(this.loops);
    for (const w of this.syncWaiters.splice(0)) w();
    const sub = this.sub;
    this.sub = undefined;
    if (sub && this.o.connectivity.online) await this.o.api.unsubscribe(sub.id).catch(() => undefined);
  }

  /** Asks for a sync within the debounce window (a notification, or a caller that knows something changed). */
  trigger(): void {
    this.dueAtMs ??= this.o.clock.now() + this.o.debounceMs;
    this.wakeCtl.abort();
  }

  /**
   * A sync at once (no debounce); resolves when one that started after this call has ended, successfully or not. An
   * open that found another version on the server waits for it, so that the kernel's retry finds the new one.
   */
  syncNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.syncWaiters.push(resolve);
      this.probeNow();
    });
  }

  /** The next sync runs at once (no debounce); a sync that is running sets its own next time when it ends. */
  private probeNow(): void {
    this.nextPollAtMs = Math.min(this.nextPollAtMs, this.o.clock.now());
    this.wakeCtl.abort();
  }

  /** Whether a subscription channel currently delivers notifications. */
  get hasChannel(): boolean {
    return this.channelLive;
  }

  /** Completed sync runs (successful or not), for tests and status. */
  get syncCount(): number {
    return this.syncs;
  }

  private get stopped(): boolean {
    return this.stopCtl.signal.aborted;
  }

  private async scheduleLoop(): Promise<void> {
    while (!this.stopped) {
      const now = this.o.clock.now();
      const wakeAt = Math.min(this.nextPollAtMs, this.dueAtMs ?? Number.POSITIVE_INFINITY);
      if (wakeAt > now) {
        await this.sleep(wakeAt - now);
        continue;
      }
      this.dueAtMs = undefined;
      await this.runSync();
    }
  }

  private async runSync(): Promise<void> {
    const { connectivity, logger, clock } = this.o;
    const waiters = this.syncWaiters.splice(0);
    try {
      await this.o.sync();
      this.offlineFailures = 0;
      connectivity.reportSuccess();
      this.o.afterSync?.();
    } catch (err) {
      if (connectivity.reportFailure(err)) {
        this.offlineFailures++;
        logger.debug({ failures: this.offlineFailures }, 'change enumeration: server unreachable');
      } else {
        logger.warn({ err }, 'change enumeration failed; retrying at the next poll');
      }
    } finally {
      this.syncs++;
      for (const w of waiters) w();
    }
    // Asked for while this run went on: the next one starts at once.
    this.nextPollAtMs = clock.now() + (this.syncWaiters.length > 0 ? 0 : this.nextDelayMs());
  }

  private nextDelayMs(): number {
    if (!this.o.connectivity.online) return backoffMs(this.offlineFailures);
    return this.channelLive ? this.o.safetyPollMs : this.o.pollIntervalMs;
  }

  private async channelLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        await this.channelStep();
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        failures++;
        this.setChannelLive(false);
        if (err instanceof HttpStatusError && !err.retryable && !(err instanceof SubscriptionGoneError)) {
          // The server does not offer subscriptions (or refuses us): poll, and ask again much later.
          this.o.logger.info({ err }, 'no notification channel; polling the change enumeration');
          this.sub = undefined;
          await this.sleepStop(CHANNEL_RETRY_MS);
          continue;
        }
        // Unreachable or a transient failure: let the sync probe decide online/offline, then retry with backoff.
        this.trigger();
        await this.sleepStop(backoffMs(failures));
        if (!this.o.connectivity.online)
          await this.o.connectivity.waitOnline(this.stopCtl.signal).catch(() => {});
      }
    }
  }

  /** Ensures a subscription (subscribe, renew before expiry, re-create when gone), then one long poll. */
  private async channelStep(): Promise<void> {
    const { api, clock, logger } = this.o;
    if (this.sub === undefined) {
      this.sub = await api.subscribe(undefined, this.o.lifetimeS);
      this.scheduleRenewal(this.sub);
      logger.info({ expires: this.sub.expires.toISOString() }, 'subscribed to change notifications');
      this.setChannelLive(true);
      this.trigger(); // changes between the last sync and the subscription would otherwise wait for the safety poll
    } else if (clock.now() >= this.renewAtMs) {
      try {
        this.sub = await api.renew(this.sub.id, this.o.lifetimeS);
        this.scheduleRenewal(this.sub);
        logger.debug({ expires: this.sub.expires.toISOString() }, 'subscription renewed');
      } catch (err) {
        if (!(err instanceof SubscriptionGoneError)) throw err;
        logger.info('the server forgot our subscription; subscribing again');
        this.sub = undefined;
        return;
      }
    }
    const untilRenewS = Math.max(1, Math.ceil((this.renewAtMs - clock.now()) / 1000));
    try {
      const r = await api.waitForNotification(
        this.sub.channelUrl,
        Math.min(this.o.longPollS, untilRenewS),
        this.stopCtl.signal,
      );
      this.setChannelLive(true);
      if (r === 'changed') this.trigger();
    } catch (err) {
      if (!(err instanceof SubscriptionGoneError)) throw err;
      logger.info('subscription channel gone (server restarted?); subscribing again');
      this.sub = undefined;
    }
  }

  private scheduleRenewal(sub: Subscription): void {
    const now = this.o.clock.now();
    this.renewAtMs = now + Math.max(1000, (sub.expires.getTime() - now) / 2);
  }

  private setChannelLive(live: boolean): void {
    if (live === this.channelLive) return;
    this.channelLive = live;
    if (!live) {
      // Fall back to the policy interval at once rather than after a pending safety-poll delay.
      this.nextPollAtMs = Math.min(this.nextPollAtMs, this.o.clock.now() + this.o.pollIntervalMs);
      this.wakeCtl.abort();
    }
  }

  /** Sleeps until `ms` passes, trigger() wakes it, or stop(). */
  private async sleep(ms: number): Promise<void> {
    if (this.wakeCtl.signal.aborted) this.wakeCtl = new AbortController();
    const signal = AbortSignal.any([this.wakeCtl.signal, this.stopCtl.signal]);
    await this.o.clock.sleep(ms, signal).catch(() => undefined);
    if (this.wakeCtl.signal.aborted) this.wakeCtl = new AbortController();
  }

  private async sleepStop(ms: number): Promise<void> {
    await this.o.clock.sleep(ms, this.stopCtl.signal).catch(() => undefined);
  }
}

function backoffMs(failures: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
}
