// The change feed's loop with an injected clock: debounce, renewal before expiry, re-subscription after a 404,
// polling fallback without a channel, offline backoff and the online transition.
import { NetworkError, NotFoundError, SubscriptionGoneError } from '../../src/protocol/errors';
import type { Subscription } from '../../src/protocol/types';
import { silentLogger } from '../../src/shared/logger';
import { ChangeFeed, type ChangeFeedApi } from '../../src/sync/change-feed';
import { Connectivity } from '../../src/sync/connectivity';
import { manualClock, type ManualClock } from './manual-clock';

const GONE = { status: 404, method: 'GET', url: 'x' };

/** A scripted server: each long poll waits until the test resolves it (or the feed aborts it). */
class FakeFeedApi implements ChangeFeedApi {
  subscribes = 0;
  renews = 0;
  polls: number[] = [];
  subscribeError: Error | undefined;
  renewError: Error | undefined;
  private pending: Array<{ resolve: (r: 'changed' | 'timeout') => void; reject: (e: Error) => void }> = [];
  constructor(
    private readonly clock: ManualClock,
    private readonly lifetimeS = 3600,
  ) {}
  subscribe(): Promise<Subscription> {
    this.subscribes++;
    if (this.subscribeError) return Promise.reject(this.subscribeError);
    return Promise.resolve(this.sub(`s${this.subscribes}`));
  }
  renew(id: string): Promise<Subscription> {
    this.renews++;
    if (this.renewError) {
      const e = this.renewError;
      this.renewError = undefined;
      return Promise.reject(e);
    }
    return Promise.resolve(this.sub(id));
  }
  unsubscribe(): Promise<void> {
    return Promise.resolve();
  }
  waitForNotification(_url: string, timeoutS: number, signal?: AbortSignal): Promise<'changed' | 'timeout'> {
    this.polls.push(timeoutS);
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject };
      this.pending.push(entry);
      signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
    });
  }
  /** Answers the open long poll. */
  answer(r: 'changed' | 'timeout' | Error): void {
    const p = this.pending.shift();
    if (p === undefined) throw new Error('no long poll is open');
    if (r instanceof Error) p.reject(r);
    else p.resolve(r);
  }
  get open(): number {
    return this.pending.length;
  }
  private sub(id: string): Subscription {
    return {
      id,
      expires: new Date(this.clock.now() + this.lifetimeS * 1000),
      channelUrl: `http://x/Subscription/${id}/Channel`,
    };
  }
}

function setup(opts: { lifetimeS?: number; useChannel?: boolean; held?: () => Promise<void> } = {}) {
  const clock = manualClock();
  const api = new FakeFeedApi(clock, opts.lifetimeS);
  const connectivity = new Connectivity(clock, silentLogger());
  const syncTimes: number[] = [];
  let syncError: Error | undefined;
  const feed = new ChangeFeed({
    api,
    clock,
    connectivity,
    logger: silentLogger(),
    sync: async () => {
      syncTimes.push(clock.now());
      await opts.held?.();
      if (syncError) throw syncError;
    },
    pollIntervalMs: 120_000,
    safetyPollMs: 600_000,
    debounceMs: 300,
    lifetimeS: opts.lifetimeS ?? 3600,
    useChannel: opts.useChannel ?? true,
  });
  const t0 = clock.now();
  return {
    clock,
    api,
    feed,
    connectivity,
    syncs: () => syncTimes.map((t) => t - t0),
    failSync: (e: Error | undefined) => (syncError = e),
  };
}

describe('ChangeFeed', () => {
  let stop: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  test('a burst of notifications within the debounce window runs one sync, 300 ms after the first', async () => {
    const { clock, api, feed, syncs } = setup();
    feed.start();
    stop = () => feed.stop();
    await clock.advance(1000); // catch-up sync at 0, post-subscribe sync at 300
    expect(api.subscribes).toBe(1);
    expect(syncs()).toEqual([0, 300]);
    api.answer('changed');
    await clock.advance(100);
    api.answer('changed');
    await clock.advance(100);
    api.answer('changed');
    await clock.advance(1000);
    expect(syncs()).toEqual([0, 300, 1300]);
    expect(feed.hasChannel).toBe(true);
  });

  test('syncNow runs a sync at once and resolves when it ended; asked during a run, it gets the next run, at once', async () => {
    let release: () => void = () => undefined;
    let holding = false;
    const { clock, feed, syncs } = setup({
      useChannel: false,
      held: () => (holding ? new Promise<void>((r) => (release = r)) : Promise.resolve()),
    });
    feed.start();
    stop = async () => {
      release();
      await feed.stop();
    };
    await clock.advance(1000); // the catch-up sync at 0; the next poll is 120 s away
    expect(syncs()).toEqual([0]);
    let first = false;
    void feed.syncNow().then(() => (first = true));
    await clock.advance(0);
    expect(syncs()).toEqual([0, 1000]); // no debounce
    expect(first).toBe(true);
    holding = true;
    void feed.syncNow();
    await clock.advance(0);
    expect(syncs()).toEqual([0, 1000, 1000]); // running, held
    let second = false;
    void feed.syncNow().then(() => (second = true)); // asked while that run goes on: it predates the change
    await clock.advance(50);
    expect(second).toBe(false);
    holding = false;
    release();
    await clock.advance(0);
    expect(syncs()).toEqual([0, 1000, 1000, 1050]); // the next run started at once
    expect(second).toBe(true);
  });

  test('with a channel, an idle mount only long-polls and runs the safety poll every 10 minutes', async () => {
    const { clock, api, feed, syncs } = setup({ lifetimeS: 24 * 3600 });
    feed.start();
    stop = () => feed.stop();
    await clock.advance(1000);
    for (let i = 0; i < 4; i++) {
      await clock.advance(300_000);
      api.answer('timeout');
    }
    await clock.advance(1000);
    // 21 minutes idle: two safety polls beyond the two start-up syncs; long polls of 300 s each.
    expect(syncs()).toEqual([0, 300, 600_300, 1_200_300]);
    expect(api.polls.every((t) => t === 300)).toBe(true);
    expect(api.renews).toBe(0);
  });

  test('the subscription is renewed at half its lifetime and long polls never outlast the renewal', async () => {
    const { clock, api, feed } = setup({ lifetimeS: 100 });
    feed.start();
    stop = () => feed.stop();
    await clock.advance(10);
    expect(api.polls).toEqual([50]);
    await clock.advance(50_000);
    api.answer('timeout');
    await clock.advance(10);
    expect(api.renews).toBe(1);
    expect(api.subscribes).toBe(1);
    expect(api.polls[1]).toBeLessThanOrEqual(50);
  });

  test('a subscription the server forgot (404 on the channel or on renew) is created again', async () => {
    const { clock, api, feed, syncs } = setup({ lifetimeS: 100 });
    feed.start();
    stop = () => feed.stop();
    await clock.advance(1000);
    api.answer(new SubscriptionGoneError(GONE));
    await clock.advance(1000);
    expect(api.subscribes).toBe(2);
    // re-subscribing triggers a sync: changes in the gap are not left for the safety poll
    expect(syncs()).toEqual([0, 300, 1300]);
    api.renewError = new SubscriptionGoneError(GONE);
    await clock.advance(60_000);
    api.answer('timeout');
    await clock.advance(1000);
    expect(api.renews).toBe(1);
    expect(api.subscribes).toBe(3);
    expect(api.open).toBe(1);
  });

  test('without a channel (subscribe answers 404) the change enumeration is polled at the policy interval', async () => {
    const { clock, api, feed, syncs } = setup();
    api.subscribeError = new NotFoundError({ status: 404, method: 'POST', url: 'x' });
    feed.start();
    stop = () => feed.stop();
    await clock.advance(250_000);
    expect(feed.hasChannel).toBe(false);
    expect(syncs()).toEqual([0, 120_000, 240_000]);
    expect(api.subscribes).toBe(1);
  });

  test('useChannel false polls only and never subscribes', async () => {
    const { clock, api, feed, syncs } = setup({ useChannel: false });
    feed.start();
    stop = () => feed.stop();
    await clock.advance(130_000);
    expect(api.subscribes).toBe(0);
    expect(syncs()).toEqual([0, 120_000]);
  });

  test('offline: syncs back off 1, 2, 4 s; the first successful sync turns the mount online and wakes waiters', async () => {
    const { clock, feed, connectivity, syncs, failSync } = setup({ useChannel: false });
    failSync(new NetworkError('connect ECONNREFUSED', 'unreachable'));
    feed.start();
    stop = () => feed.stop();
    await clock.advance(10);
    expect(connectivity.status().state).toBe('offline');
    const offlineSince = connectivity.status().sinceMs;
    let woke = false;
    void connectivity.waitOnline().then(() => (woke = true));
    await clock.advance(7500);
    expect(syncs()).toEqual([0, 1000, 3000, 7000]);
    expect(woke).toBe(false);
    failSync(undefined);
    await clock.advance(8000);
    expect(syncs()).toEqual([0, 1000, 3000, 7000, 15_000]);
    expect(connectivity.online).toBe(true);
    expect(connectivity.status().sinceMs).toBeGreaterThan(offlineSince);
    expect(woke).toBe(true);
  });

  test('a broken channel (network) makes the feed probe with a sync instead of waiting for the next poll', async () => {
    const { clock, api, feed, syncs, connectivity, failSync } = setup();
    feed.start();
    stop = () => feed.stop();
    await clock.advance(1000);
    failSync(new NetworkError('reset', 'reset'));
    api.answer(new NetworkError('socket hang up', 'reset'));
    await clock.advance(400);
    expect(syncs()).toEqual([0, 300, 1300]);
    expect(connectivity.online).toBe(false);
    expect(feed.hasChannel).toBe(false);
  });
});
