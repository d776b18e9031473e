// `spfs doctor`'s verdicts as plain functions of the facts gathered at the edge: each failure names its fix, and
// the exit code is 1 only when something failed.
import {
  checkAllowOther,
  checkCacheSpace,
  checkCredentials,
  checkDevFuse,
  checkFuse3Addon,
  checkFusermount,
  checkServerReachable,
  checkStaleMounts,
  doctorExitCode,
  formatCheck,
} from '../../src/cli/doctor-checks';
import { mountStatus } from '../../src/cli/mount-status';

test('/dev/fuse: openable passes; missing and refused fail with different fixes', () => {
  expect(checkDevFuse(undefined).status).toBe('ok');
  const missing = checkDevFuse('ENOENT');
  expect(missing.status).toBe('fail');
  expect(missing.fix).toMatch(/apt-get install fuse3.*modprobe fuse/);
  const denied = checkDevFuse('EACCES');
  expect(denied.detail).toMatch(/EACCES/);
  expect(denied.fix).toMatch(/chmod/);
});

test('fusermount: missing fails; not setuid fails only for a normal user', () => {
  expect(checkFusermount({ setuid: false }, false).fix).toMatch(/apt-get install fuse3/);
  expect(checkFusermount({ path: '/usr/bin/fusermount3', setuid: false }, false)).toMatchObject({
    status: 'fail',
    fix: 'sudo chmod u+s /usr/bin/fusermount3',
  });
  expect(checkFusermount({ path: '/usr/bin/fusermount3', setuid: false }, true).status).toBe('ok');
  expect(checkFusermount({ path: '/usr/bin/fusermount3', setuid: true }, false).status).toBe('ok');
});

test('the libfuse3 adapter missing is a warning: mounts run on fuse-native', () => {
  expect(checkFuse3Addon(undefined).status).toBe('ok');
  const w = checkFuse3Addon('the addon is not built');
  expect(w.status).toBe('warn');
  expect(w.detail).toMatch(/runs? on fuse-native/);
  expect(w.fix).toMatch(/build-addon\.sh/);
});

test('user_allow_other: set passes; unset warns (only allow_other needs it) unless root', () => {
  expect(checkAllowOther('# comment\nuser_allow_other\n', false).status).toBe('ok');
  const w = checkAllowOther('#user_allow_other\n', false);
  expect(w.status).toBe('warn');
  expect(w.detail).toMatch(/only matters .*allow_other/);
  expect(checkAllowOther(undefined, false).status).toBe('warn');
  expect(checkAllowOther(undefined, true).status).toBe('ok');
});

test('stale mounts: one failure per stale record with `spfs unmount DIR`; none stale passes', () => {
  const rec = { pid: 7, mountpoint: '/m/a', cacheDir: '/c/a', url: 'http://h/s', startedMs: 0 };
  const live = mountStatus(rec, { daemonAlive: true, mounted: true, reply: { done: true, pending: [] } });
  const dead = mountStatus({ ...rec, mountpoint: '/m/b' }, { daemonAlive: false, mounted: true });
  expect(checkStaleMounts([live])).toEqual([
    { status: 'ok', name: 'mounts', detail: '1 mounts, none stale' },
  ]);
  const r = checkStaleMounts([live, dead]);
  expect(r).toHaveLength(1);
  expect(r[0]).toMatchObject({ status: 'fail', name: 'mount /m/b', fix: 'spfs unmount /m/b' });
  expect(formatCheck(r[0]!)).toBe(
    'FAIL mount /m/b: stale: the daemon (pid 7) is dead; the mount is left behind (ENOTCONN)\n     fix: spfs unmount /m/b',
  );
});

test('server and credentials', () => {
  expect(checkServerReachable('http://h', { status: 401 }).status).toBe('ok'); // an answer is reachable
  expect(checkServerReachable('http://h', { error: 'ECONNREFUSED' })).toMatchObject({ status: 'fail' });
  expect(checkCredentials({ accepted: true, library: 'http://h/s' }).status).toBe('ok');
  expect(checkCredentials({ refused: true })).toMatchObject({
    status: 'fail',
    detail: expect.stringMatching(/401/),
  });
  expect(checkCredentials({ failed: 'boom' }).status).toBe('fail');
  expect(checkCredentials({ skipped: 'no credentials given' }).status).toBe('warn');
});

test('cache disk: room for the bound passes; less warns with a bound that fits; none free fails', () => {
  const G = 1024 ** 3;
  expect(
    checkCacheSpace({ cacheDir: '/c', freeBytes: 9 * G, usedBytes: 1 * G, maxBytes: 10 * G }).status,
  ).toBe('ok');
  const w = checkCacheSpace({ cacheDir: '/c', freeBytes: 2 * G, usedBytes: 1 * G, maxBytes: 10 * G });
  expect(w.status).toBe('warn');
  expect(w.fix).toMatch(/--cache-size 3072M/);
  expect(checkCacheSpace({ cacheDir: '/c', freeBytes: 0, usedBytes: 0, maxBytes: G }).status).toBe('fail');
});

test('exit code: 1 when a check failed, 0 with only warnings', () => {
  expect(doctorExitCode([checkFuse3Addon('x'), checkDevFuse(undefined)])).toBe(0);
  expect(doctorExitCode([checkDevFuse('ENOENT'), checkDevFuse(undefined)])).toBe(1);
});
