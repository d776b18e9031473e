// `spfs unmount` stops waiting for uploads once the mount has been offline for UNREACHABLE_GIVE_UP_MS, as
// Connectivity (the only owner of that state) tells it; the uploader keeps no "unreachable" flag of its own.
import { unmountGivesUp, UNREACHABLE_GIVE_UP_MS } from '../../src/cli/control-socket';
import { NetworkError, HttpStatusError } from '../../src/protocol/errors';
import { silentLogger } from '../../src/shared/logger';
import { Connectivity } from '../../src/sync/connectivity';
import { manualClock } from '../sync/manual-clock';

describe('unmount give-up reads Connectivity', () => {
  test('online, or offline for less than the limit: keep waiting; offline for the limit: detach', async () => {
    const clock = manualClock();
    const c = new Connectivity(clock, silentLogger());
    expect(unmountGivesUp(c)).toBe(false);
    c.reportFailure(new HttpStatusError({ status: 503, method: 'POST', url: 'x' }));
    await clock.advance(UNREACHABLE_GIVE_UP_MS);
    expect(unmountGivesUp(c)).toBe(false); // a 5xx answer means the server is there
    c.reportFailure(new NetworkError('connect ECONNREFUSED', 'unreachable'));
    await clock.advance(UNREACHABLE_GIVE_UP_MS - 1);
    expect(unmountGivesUp(c)).toBe(false);
    await clock.advance(1);
    expect(unmountGivesUp(c)).toBe(true);
    c.reportSuccess();
    expect(unmountGivesUp(c)).toBe(false);
    expect(unmountGivesUp(undefined)).toBe(false);
  });
});
