// The global pacer with an injected clock (no sleeps): burst, spacing, slowdown after throttling with Retry-After
// honoured for every request, recovery, and background requests slowed by a busy health score.
import { BACKGROUND_YIELD_MS, BUSY_BACKGROUND_FACTOR, Pacer } from '../../src/protocol/http/pacer';
import { fakeClock } from './fake-clock';

async function waits(
  p: Pacer,
  clock: ReturnType<typeof fakeClock>,
  n: number,
  prio: 'foreground' | 'background' = 'foreground',
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const before = clock.now();
    await p.acquire(prio);
    out.push(clock.now() - before);
  }
  return out;
}

/** A clock whose sleeps end only when the test moves time on (in steps), so requests can be caught mid-wait. */
function steppedClock(): {
  clock: { now: () => number; sleep: (ms: number) => Promise<void> };
  advance: (to: number) => Promise<void>;
} {
  let now = 0;
  const sleepers: { until: number; wake: () => void }[] = [];
  const clock = {
    now: () => now,
    sleep: (ms: number) => new Promise<void>((wake) => sleepers.push({ until: now + ms, wake })),
  };
  const advance = async (to: number): Promise<void> => {
    for (let step = Math.min(to, now + 10); now < to; step = Math.min(to, step + 10)) {
      now = step;
      for (const s of sleepers.filter((x) => x.until <= now)) {
        sleepers.splice(sleepers.indexOf(s), 1);
        s.wake();
      }
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  };
  return { clock, advance };
}

describe('Pacer', () => {
  test('a burst passes without waiting, then requests are spaced at the rate', async () => {
    const clock = fakeClock();
    const p = new Pacer({ clock, maxRatePerSecond: 10, burst: 3 });
    expect(await waits(p, clock, 3)).toEqual([0, 0, 0]);
    expect(await waits(p, clock, 3)).toEqual([100, 100, 100]);
  });

  test('after a throttle every request waits for Retry-After and the rate halves', async () => {
    const clock = fakeClock();
    const p = new Pacer({ clock, maxRatePerSecond: 10, burst: 1 });
    await p.acquire('foreground');
    p.onThrottled(5000);
    expect(p.currentRatePerSecond).toBe(5);
    expect(p.delayFor('foreground')).toBe(5000);
    expect(p.delayFor('background')).toBe(5000);
    await p.acquire('foreground');
    expect(await waits(p, clock, 2)).toEqual([200, 200]);
  });

  test('a request that reserved its slot before a throttle still waits until Retry-After expires', async () => {
    const { clock, advance } = steppedClock();
    const p = new Pacer({ clock, maxRatePerSecond: 10, burst: 1 });
    await p.acquire('foreground');
    let sent = -1;
    const queued = p.acquire('foreground').then(() => (sent = clock.now())); // its slot is at 100 ms
    p.onThrottled(2000); // the 429 arrives while it waits
    await advance(100);
    expect(sent).toBe(-1);
    await advance(2000);
    await queued;
    expect(sent).toBe(2000);
  });

  test('repeated throttling never drops below the floor; successes win the rate back', () => {
    const clock = fakeClock();
    const p = new Pacer({ clock, maxRatePerSecond: 10, minRatePerSecond: 1 });
    for (let i = 0; i < 20; i++) p.onThrottled(undefined);
    expect(p.currentRatePerSecond).toBe(1);
    for (let i = 0; i < 100; i++) p.onSuccess();
    expect(p.currentRatePerSecond).toBe(10);
  });

  test('a health score of 8 or more slows background requests only', async () => {
    const clock = fakeClock();
    const p = new Pacer({ clock, maxRatePerSecond: 10, burst: 1 });
    p.onHealthScore(9);
    await p.acquire('background');
    expect(await waits(p, clock, 1, 'background')).toEqual([100 * BUSY_BACKGROUND_FACTOR]);
    p.onHealthScore(2);
    // The slot reserved while busy is kept; after it, normal spacing.
    expect(await waits(p, clock, 2, 'background')).toEqual([100 * BUSY_BACKGROUND_FACTOR, 100]);
  });

  test('background requests use only half the burst: a read during a crawl gets its slot at once', async () => {
    const clock = fakeClock();
    const p = new Pacer({ clock, maxRatePerSecond: 10, burst: 4 });
    // A crawl: two background requests pass at once, then they are spaced at the rate.
    expect(await waits(p, clock, 4, 'background')).toEqual([0, 0, 100, 100]);
    // A read now: the reserved half of the burst lets it through without waiting.
    expect(await waits(p, clock, 1, 'foreground')).toEqual([0]);
    // Without the split, a foreground-only stream of the same length would have waited from its fifth request.
    const q = new Pacer({ clock, maxRatePerSecond: 10, burst: 4 });
    expect(await waits(q, clock, 5, 'foreground')).toEqual([0, 0, 0, 0, 100]);
  });

  test('a background request waiting for its slot does not hold it: a read that comes meanwhile goes first', async () => {
    const { clock, advance } = steppedClock();
    const p = new Pacer({ clock, maxRatePerSecond: 10, burst: 4 });
    for (let i = 0; i < 4; i++) await p.acquire('foreground'); // the burst is used: the next slot is due at 100 ms
    const sent: Record<string, number> = {};
    const crawl = p.acquire('background').then(() => (sent.crawl = clock.now()));
    const read = p.acquire('foreground').then(() => (sent.read = clock.now()));
    await advance(1000);
    await Promise.all([crawl, read]);
    // Had the crawl reserved a slot when it asked, the read would have waited for the one after it (200 ms).
    expect(sent).toEqual({ read: 100, crawl: 400 });
  });

  test('reads at the full rate hold a background request back for BACKGROUND_YIELD_MS at most', async () => {
    const { clock, advance } = steppedClock();
    const p = new Pacer({ clock, maxRatePerSecond: 10, burst: 4 });
    for (let i = 0; i < 4; i++) await p.acquire('foreground');
    let sentAt = -1;
    const crawl = p.acquire('background').then(() => (sentAt = clock.now()));
    const reads: Promise<void>[] = [];
    for (let t = 0; sentAt < 0 && t < 10_000; t += 100) {
      reads.push(p.acquire('foreground')); // a read every 100 ms: the whole rate
      await advance(t + 100);
    }
    await advance(clock.now() + 1000); // the slots the last reads reserved
    await Promise.all([crawl, ...reads]);
    expect(sentAt).toBeGreaterThanOrEqual(BACKGROUND_YIELD_MS); // it let the reads go...
    expect(sentAt).toBeLessThanOrEqual(BACKGROUND_YIELD_MS + 500); // ...but not for ever
  });
});
