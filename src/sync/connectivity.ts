// Online/offline state of the mount, its only owner. Set offline by the first refused, reset or timed-out request
// attempt from any caller (the protocol client reports every failed attempt, before its retries, as Reachability),
// set online only by the change feed, which probes at once when the mount goes offline and then with backoff: after
// a change enumeration succeeded, so catch-up runs before anything waiting on `online` (the uploader).
import { NetworkError, TruncatedBodyError } from '../protocol/errors';
import type { Clock } from '../shared/clock';
import { SpfsError, errorMessage } from '../shared/errors';
import type { Logger } from '../shared/logger';

export type ConnectivityState = 'online' | 'offline';

export interface ConnectivityStatus {
  state: ConnectivityState;
  /** When the current state began (ms since the epoch). */
  sinceMs: number;
  /** Why we went offline (the last network failure), while offline. */
  lastError?: string;
}

/** Opening content that is not cached while the server is unreachable: fails at once (errno ENETUNREACH). */
export class OfflineError extends SpfsError {
  constructor(message: string) {
    super('EOFFLINE', message);
  }
}

/** A failure that means "the server can't be reached" (refused, reset, timed out), not a server answer. */
export function isUnreachable(err: unknown): boolean {
  if (err instanceof OfflineError) return true;
  if (err instanceof TruncatedBodyError) return false;
  // 'other' is not the network's doing: a request body that could not be read (its local file replaced meanwhile).
  if (err instanceof NetworkError) return err.kind !== 'other';
  return err instanceof SpfsError && err.cause !== undefined && err.cause !== err && isUnreachable(err.cause);
}

type Listener = (s: ConnectivityStatus) => void;

export class Connectivity {
  private state: ConnectivityState;
  private sinceMs: number;
  private lastError: string | undefined;
  private readonly listeners = new Set<Listener>();
  private waiters: Array<() => void> = [];

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    initial: ConnectivityState = 'online',
  ) {
    this.state = initial;
    this.sinceMs = clock.now();
  }

  get online(): boolean {
    return this.state === 'online';
  }

  /** How long the mount has been offline (ms), or undefined while online. */
  offlineForMs(): number | undefined {
    return this.state === 'offline' ? this.clock.now() - this.sinceMs : undefined;
  }

  status(): ConnectivityStatus {
    const s: ConnectivityStatus = { state: this.state, sinceMs: this.sinceMs };
    if (this.state === 'offline' && this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  /** Records a failure; only one that means "unreachable" turns the mount offline. Returns whether it did. */
  reportFailure(err: unknown): boolean {
    if (!isUnreachable(err)) return false;
    this.lastError = errorMessage(err);
    if (this.state === 'offline') return true;
    this.set('offline');
    this.logger.warn({ err: this.lastError }, 'server unreachable: offline (serving the stored tree)');
    return true;
  }

  /** A change enumeration succeeded: online again (wakes `waitOnline` callers and listeners). */
  reportSuccess(): void {
    if (this.state === 'online') return;
    const offlineMs = this.clock.now() - this.sinceMs;
    this.set('online');
    this.lastError = undefined;
    this.logger.info({ offlineMs }, 'server reachable again: online');
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Called on every state change; returns the unsubscribe function. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves at once when online, else when the mount comes back online; rejects when `signal` aborts. */
  waitOnline(signal?: AbortSignal): Promise<void> {
    if (this.online) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(done);
    });
  }

  private set(state: ConnectivityState): void {
    this.state = state;
    this.sinceMs = this.clock.now();
    const s = this.status();
    for (const l of this.listeners) {
      try {
        l(s);
      } catch (err) {
        this.logger.warn({ err }, 'connectivity listener failed');
      }
    }
  }
}
