// A Clock whose time only moves when a test calls advance(): sleepers wake in deadline order, abortable by signal.
import type { Clock } from '../../src/shared/clock';

export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, waking every sleeper due on the way (with microtask flushes between). */
  advance(ms: number): Promise<void>;
  /** Lets pending promise callbacks run without moving time. */
  flush(): Promise<void>;
  pendingSleeps(): number[];
}

interface Sleeper {
  at: number;
  resolve: () => void;
}

export function manualClock(startMs = Date.UTC(2025, 2, 4, 10, 0, 0)): ManualClock {
  let now = startMs;
  let sleepers: Sleeper[] = [];
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
  };
  return {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason as Error);
        const s: Sleeper = {
          at: now + ms,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        const onAbort = (): void => {
          sleepers = sleepers.filter((x) => x !== s);
          reject(signal?.reason as Error);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        sleepers.push(s);
      }),
    async advance(ms) {
      const end = now + ms;
      await flush();
      for (;;) {
        const due = sleepers.filter((s) => s.at <= end).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        now = Math.max(now, due.at);
        sleepers = sleepers.filter((s) => s !== due);
        due.resolve();
        await flush();
      }
      now = end;
      await flush();
    },
    flush,
    pendingSleeps: () => sleepers.map((s) => s.at - now),
  };
}
