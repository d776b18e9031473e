// E11 subscriptions of one library, in memory: each has an expiry, the client's opaque state and a pending flag set
// by every committed change (bursts coalesce into one flag) and consumed by the long-poll channel.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../shared/clock';

/** Longest lifetime granted; a later requested expiry is cut to this (the WNS channel lifetime of the digest). */
export const MAX_SUBSCRIPTION_LIFETIME_MS = 30 * 24 * 3600 * 1000;

export interface Subscription {
  /** 32 lowercase hex. */
  id: string;
  expiresMs: number;
  clientState: string;
  /** Lower-case user name of its creator: only they may poll, renew or delete it. */
  owner: string;
  /** The library changed since the channel's previous answer. */
  pending: boolean;
}

export type ChannelOutcome = 'changed' | 'timeout' | 'gone';

export class SubscriptionRegistry {
  private readonly subs = new Map<string, Subscription>();
  /** Waiting channel requests per subscription id. */
  private readonly waiters = new Map<string, Set<(o: ChannelOutcome) => void>>();

  constructor(private readonly clock: Clock) {}

  /** A new subscription; `requestedExpiresMs` is capped at now + 30 days (and never in the past). */
  create(requestedExpiresMs: number, clientState: string, owner: string): Subscription {
    this.prune();
    const sub: Subscription = {
      id: randomBytes(16).toString('hex'),
      expiresMs: this.cap(requestedExpiresMs),
      clientState,
      owner,
      pending: false,
    };
    this.subs.set(sub.id, sub);
    return sub;
  }

  /** The live subscription, or undefined when unknown or expired (an expired one is dropped here). */
  get(id: string): Subscription | undefined {
    this.prune();
    return this.subs.get(id.toLowerCase());
  }

  renew(id: string, requestedExpiresMs: number): Subscription | undefined {
    const sub = this.get(id);
    if (sub) sub.expiresMs = this.cap(requestedExpiresMs);
    return sub;
  }

  /** Drops it; a channel waiting on it answers `gone`. */
  remove(id: string): boolean {
    const key = id.toLowerCase();
    const had = this.subs.delete(key);
    this.wake(key, 'gone');
    return had;
  }

  /** The library changed: every subscription but `exceptId` gets its pending flag, and waiting channels answer. */
  notifyChange(exceptId?: string): void {
    this.prune();
    const except = exceptId?.trim().toLowerCase().replace(/[{}-]/g, '');
    for (const sub of this.subs.values()) {
      if (sub.id === except) continue;
      sub.pending = true;
      this.wake(sub.id, 'changed');
    }
  }

  /**
   * The channel: resolves `changed` at once (consuming the flag) when a change is pending, else at the next change,
   * `timeout` after `timeoutMs`, `gone` if the subscription is deleted or expires meanwhile. `abort` ends the wait
   * (client hung up) without consuming anything.
   */
  wait(id: string, timeoutMs: number, abort: AbortSignal): Promise<ChannelOutcome> {
    const sub = this.get(id);
    if (!sub) return Promise.resolve('gone');
    if (sub.pending) {
      sub.pending = false;
      return Promise.resolve('changed');
    }
    return new Promise((resolve) => {
      const set = this.waiters.get(sub.id) ?? new Set();
      this.waiters.set(sub.id, set);
      const finish = (o: ChannelOutcome): void => {
        clearTimeout(timer);
        abort.removeEventListener('abort', onAbort);
        set.delete(finish);
        if (set.size === 0) this.waiters.delete(sub.id);
        if (o === 'changed') sub.pending = false;
        resolve(o);
      };
      const untilExpiry = Math.max(0, sub.expiresMs - this.clock.now());
      const timer = setTimeout(
        () => finish(untilExpiry < timeoutMs ? 'gone' : 'timeout'),
        Math.min(timeoutMs, untilExpiry),
      );
      const onAbort = (): void => finish('timeout');
      abort.addEventListener('abort', onAbort);
      set.add(finish);
    });
  }

  /** Ends every waiting channel (server shutdown). */
  closeAll(): void {
    for (const id of [...this.waiters.keys()]) this.wake(id, 'timeout');
  }

  private wake(id: string, o: ChannelOutcome): void {
    for (const finish of [...(this.waiters.get(id) ?? [])]) finish(o);
  }

  private cap(requestedMs: number): number {
    const now = this.clock.now();
    return Math.max(now, Math.min(requestedMs, now + MAX_SUBSCRIPTION_LIFETIME_MS));
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [id, sub] of this.subs) {
      if (sub.expiresMs <= now) {
        this.subs.delete(id);
        this.wake(id, 'gone');
      }
    }
  }
}
