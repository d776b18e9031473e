// A Clock for retry tests: sleeping advances virtual time instantly and records each requested delay.
import type { Clock } from '../../src/shared/clock';

export interface FakeClock extends Clock {
  readonly sleeps: number[];
}

export function fakeClock(startMs = Date.UTC(2025, 2, 4, 10, 11, 12)): FakeClock {
  let now = startMs;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: (ms: number) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}
