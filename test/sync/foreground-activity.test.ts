// foregroundQuiet: background steps wait while reads stream, and never longer than the bound.
import { foregroundQuiet, noteForegroundActivity } from '../../src/sync/foreground-activity';

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
});
