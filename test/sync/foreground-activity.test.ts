// ForegroundActivity.quiet(): background steps wait while reads stream, and never longer than the bound.
import { ForegroundActivity } from '../../src/sync/foreground-activity';

describe('foreground activity gate', () => {
  let activity: ForegroundActivity;
  beforeEach(() => {
    jest.useFakeTimers();
    activity = new ForegroundActivity();
  });
  afterEach(() => jest.useRealTimers());

  async function settledAfter(p: Promise<void>, ms: number): Promise<boolean> {
    let done = false;
    void p.then(() => (done = true));
    await jest.advanceTimersByTimeAsync(ms);
    return done;
  }

  it('waits while a read just happened, then lets the background step go', async () => {
    await jest.advanceTimersByTimeAsync(5000); // no recent activity
    activity.noteContent();
    const quiet = activity.quiet();
    expect(await settledAfter(quiet, 10)).toBe(false);
    expect(await settledAfter(quiet, 100)).toBe(true);
  });

  it('does not wait forever for a reader that never stops', async () => {
    activity.noteContent();
    const quiet = activity.quiet();
    let done = false;
    void quiet.then(() => (done = true));
    for (let i = 0; i < 200 && !done; i++) {
      activity.noteContent();
      await jest.advanceTimersByTimeAsync(10);
    }
    expect(done).toBe(true);
  });

  it('lookups hold a background step back only at the start of a burst, not through a long walk', async () => {
    await jest.advanceTimersByTimeAsync(5000); // idle: the next lookup starts a burst
    activity.noteMetadata();
    const first = activity.quiet();
    expect(await settledAfter(first, 10)).toBe(false);
    // The walk goes on (a lookup every 10 ms); after the burst allowance the step goes ahead anyway.
    let done = false;
    const during = activity.quiet().then(() => (done = true));
    for (let i = 0; i < 30 && !done; i++) {
      activity.noteMetadata();
      await jest.advanceTimersByTimeAsync(10);
    }
    expect(done).toBe(true);
    await during;
    await first;
  });
});
