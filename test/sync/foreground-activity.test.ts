// foregroundQuiet: background steps wait while reads stream, and never longer than the bound.
import {
  foregroundQuiet,
  noteForegroundActivity,
  noteMetadataActivity,
} from '../../src/sync/foreground-activity';

describe('foreground activity gate', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  async function settledAfter(p: Promise<void>, ms: number): Promise<boolean> {
    let done = false;
    void p.then(() => (done = true));
    await jest.advanceTimersByTimeAsync(ms);
    return done;
  }

  it('waits while a read just happened, then lets the background step go', async () => {
    await jest.advanceTimersByTimeAsync(5000); // no recent activity
    noteForegroundActivity();
    const quiet = foregroundQuiet();
    expect(await settledAfter(quiet, 10)).toBe(false);
    expect(await settledAfter(quiet, 100)).toBe(true);
  });

  it('does not wait forever for a reader that never stops', async () => {
    noteForegroundActivity();
    const quiet = foregroundQuiet();
    let done = false;
    void quiet.then(() => (done = true));
    for (let i = 0; i < 200 && !done; i++) {
      noteForegroundActivity();
      await jest.advanceTimersByTimeAsync(10);
    }
    expect(done).toBe(true);
  });

  it('lookups hold a background step back only at the start of a burst, not through a long walk', async () => {
    await jest.advanceTimersByTimeAsync(5000); // idle: the next lookup starts a burst
    noteMetadataActivity();
    const first = foregroundQuiet();
    expect(await settledAfter(first, 10)).toBe(false);
    // The walk goes on (a lookup every 10 ms); after the burst allowance the step goes ahead anyway.
    let done = false;
    const during = foregroundQuiet().then(() => (done = true));
    for (let i = 0; i < 30 && !done; i++) {
      noteMetadataActivity();
      await jest.advanceTimersByTimeAsync(10);
    }
    expect(done).toBe(true);
    await during;
    await first;
  });
});
