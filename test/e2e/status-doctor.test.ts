// End to end on real mounts of `spfs serve` (child processes): `spfs status` (all mounts, one mount, --json against
// docs/STATUS.md) while uploads wait and fail, a daemon killed with SIGKILL that `spfs status` and `spfs doctor`
// call stale (and `spfs unmount` puts right), progress drawn under a pseudo-terminal (util-linux `script`) and
// never in a pipe, and no credential in any log file of a Basic-auth mount after all that.
import { readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MountStatus } from '../../src/cli/mount-status';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN, adminPost } from '../helpers/admin-endpoint';
import { eventually as waitUntil } from '../helpers/eventually';
import {
  assertE2EPrerequisites,
  cleanupMounts,
  daemonPids,
  isMounted,
  makeTempDir,
  PASSWORD_ENV,
  runSpfs,
  runSpfsOnPty,
  startServerProcess,
  waitForExit,
  type MountProcess,
  type RunResult,
  type ServerProcess,
} from '../helpers/spfs-processes';
import { documentedStatusFields, missingFields } from '../helpers/status-schema';

/** Only guards against hangs; no timing is asserted. */
const EVENTUALLY_MS = 90_000;
const eventually = <T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> =>
  waitUntil(probe, what, EVENTUALLY_MS, 200);

/** The cursor and line controls a progress bar draws with. */
const TERMINAL_CONTROL = new RegExp(`${String.fromCharCode(27)}\\[`);

describe('spfs status and spfs doctor on real mounts', () => {
  let work: string;
  let server: ServerProcess;
  let state: string;
  const mounts: MountProcess[] = [];
  let a: MountProcess;
  let b: MountProcess;
  const env = (): NodeJS.ProcessEnv => ({ SPFS_STATE_DIR: state, [PASSWORD_ENV]: server.password });
  const spfs = (args: string[]): Promise<RunResult> => runSpfs(args, env());
  const spfsOnPty = (args: string[]): RunResult => runSpfsOnPty(args, env());
  const mountArgs = (name: string, extra: string[]): string[] => [
    'mount',
    server.url,
    join(work, `mnt-${name}`),
    '--user',
    server.user,
    '--password-env',
    PASSWORD_ENV,
    '--cache-dir',
    join(work, `cache-${name}`),
    ...extra,
  ];
  const track = (name: string): MountProcess => {
    const m: MountProcess = {
      mountpoint: join(work, `mnt-${name}`),
      cacheDir: join(work, `cache-${name}`),
      unmount: () => spfs(['unmount', join(work, `mnt-${name}`)]),
    };
    mkdirSync(m.mountpoint, { recursive: true });
    mounts.push(m);
    return m;
  };
  const statusJson = async (dir?: string): Promise<MountStatus & MountStatus[]> => {
    const r = await spfs(['status', ...(dir !== undefined ? [dir] : []), '--json']);
    return JSON.parse(r.stdout) as MountStatus & MountStatus[];
  };
  const admin = (path: string, body: unknown): Promise<unknown> =>
    adminPost(new URL(server.url).port, ADMIN_TOKEN, path, body);
  /** Every upload (POST) the server answers 503 from now on, until the faults are cleared. */
  const failUploads = (): Promise<unknown> =>
    admin('/faults', { kind: 'status', status: 503, retryAfterSeconds: 1, forMs: 600_000, method: 'POST' });

  beforeAll(async () => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    work = makeTempDir('status');
    state = join(work, 'state');
    const seed = join(work, 'seed');
    for (let f = 0; f < 20; f++) {
      mkdirSync(join(seed, `folder-${f}`), { recursive: true });
      for (let i = 0; i < 5; i++) writeFileSync(join(seed, `folder-${f}`, `n${i}.txt`), `${f}/${i}`);
    }
    writeFileSync(join(seed, 'read-me.txt'), 'hydrate me');
    mkdirSync(join(work, 'data'));
    server = await startServerProcess({
      dataDir: join(work, 'data'),
      seedDir: seed,
      extraArgs: [...ADMIN_ARGS, '--space-granted', '5G'],
    });
    a = track('a');
    b = track('b');
  }, 120_000);

  afterAll(async () => {
    await cleanupMounts(mounts, [work], [server]);
    delete process.env[ADMIN_ENV];
  }, 120_000);

  test("a first mount draws the crawl's progress under a terminal and nothing in a pipe", async () => {
    // A's uploads wait for `spfs flush` (an hour of write-back): what status says of them is then exact.
    const onPty = spfsOnPty(mountArgs('a', ['--write-back', '3600', '--cache-size', '64M']));
    expect(onPty.code).toBe(0);
    expect(onPty.stdout).toMatch(/spfs: reading the library: \d+ folders, \d+ items \| \d+ items\/s/);
    expect(onPty.stdout).toMatch(TERMINAL_CONTROL);
    expect(onPty.stdout).toContain(`mounted at ${a.mountpoint}`);

    const inPipe = await spfs(mountArgs('b', []));
    expect(inPipe.code).toBe(0);
    expect(inPipe.stdout + inPipe.stderr).not.toMatch(/reading the library/);
    expect(inPipe.stdout + inPipe.stderr).not.toMatch(TERMINAL_CONTROL);
    expect(inPipe.stdout).toContain(`mounted at ${b.mountpoint}`);
  }, 120_000);

  test('spfs status lists both mounts online; --json has every documented field', async () => {
    const text = await spfs(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`${a.mountpoint}  ${server.url}  online  nothing pending`);
    expect(text.stdout).toContain(`${b.mountpoint}  ${server.url}  online  nothing pending`);
    const all = await statusJson();
    expect(all.map((s) => s.mountpoint).sort()).toEqual([a.mountpoint, b.mountpoint].sort());
    for (const s of all) {
      expect(missingFields(s, documentedStatusFields())).toEqual([]);
      expect(s.schemaVersion).toBe(1);
      expect(s.state).toBe('online');
    }
  });

  test('the details match reality: items, cache bound and hydration, waiting and failing uploads, quota', async () => {
    expect(readFileSync(join(a.mountpoint, 'read-me.txt'), 'utf8')).toBe('hydrate me');
    writeFileSync(join(a.mountpoint, 'waits.txt'), 'twelve bytes');
    const waiting = await eventually(async () => {
      const s = await statusJson(a.mountpoint);
      return s.uploads?.files === 1 && (s.cache?.hydratedFiles ?? 0) >= 1 ? s : undefined;
    }, 'the new file queued and read-me.txt hydrated');
    expect(missingFields(waiting, documentedStatusFields())).toEqual([]);
    expect(waiting.uploads?.items).toEqual([
      { path: '/waits.txt', op: 'create', bytes: 12, state: 'waiting', reason: null },
    ]);
    expect(waiting.uploads?.bytes).toBe(12);
    expect(waiting.itemsKnown).toBe(1 + 20 + 100 + 1 + 1); // root, folders, files, read-me.txt, waits.txt
    expect(waiting.cache?.maxBytes).toBe(64 * 1024 ** 2);
    expect(waiting.cache?.usedBytes).toBeGreaterThan(0);
    expect(waiting.cache?.pinnedFiles).toBe(0);
    expect(waiting.fuse?.adapter).toBe('libfuse3');
    expect(waiting.quota?.grantedBytes).toBe(5 * 1024 ** 3);
    expect(waiting.lastSyncAt).not.toBeNull();
    expect(waiting.since).not.toBeNull();

    // Every upload the server answers 503 from now on: a flush tries, the failure and its reason show.
    await failUploads();
    const flushing = spfs(['flush', a.mountpoint]);
    const failing = await eventually(async () => {
      const s = await statusJson(a.mountpoint);
      return s.uploads?.items[0]?.state === 'retrying' ? s : undefined;
    }, 'the upload retrying in spfs status');
    expect(failing.uploads?.failing).toBe(1);
    expect(failing.uploads?.items[0]?.reason).toMatch(/503/);
    const details = await spfs(['status', a.mountpoint]);
    expect(details.stdout).toMatch(/^ {2}create \/waits\.txt \(12 bytes\) — retrying: .*503/m);
    expect(details.stdout).toMatch(/^failures: 1$/m);
    await fetch(`http://127.0.0.1:${new URL(server.url).port}/_spfs/admin/faults`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const flushed = await flushing;
    expect(flushed.code).toBe(0);
    expect(flushed.stdout).toContain('everything is on the server');
    expect(flushed.stderr).not.toMatch(TERMINAL_CONTROL); // a pipe: no progress
    expect((await statusJson(a.mountpoint)).uploads?.files).toBe(0);
  }, 180_000);

  test('a backlog of 150 uploads is counted whole and listed up to 100, failing first', async () => {
    // The concurrency part's backlog made `spfs status --json` a megabyte (every entry listed): past execFile's
    // buffer, and built on the daemon's event loop. Uploads are held by 503s while the backlog is looked at.
    await failUploads();
    const dir = join(a.mountpoint, 'backlog');
    mkdirSync(dir);
    for (let i = 0; i < 150; i++) writeFileSync(join(dir, `f${String(i).padStart(3, '0')}.txt`), 'queued');
    const flushing = spfs(['flush', a.mountpoint]); // tries at once: failures appear
    const s = await eventually(async () => {
      const st = await statusJson(a.mountpoint);
      return st.uploads !== null && st.uploads.files >= 151 && st.uploads.failing > 0 ? st : undefined;
    }, 'the backlog queued, some of it retrying');
    expect(missingFields(s, documentedStatusFields())).toEqual([]);
    const up = s.uploads!;
    expect(up.items).toHaveLength(100);
    expect(up.itemsOmitted).toBe(up.files - 100);
    expect(up.bytes).toBeGreaterThanOrEqual(150 * 'queued'.length);
    // Failing entries come first: no waiting entry is listed before a retrying one.
    const states = up.items.map((u) => u.state);
    expect(states.indexOf('retrying')).toBe(0);
    expect(states.slice(0, Math.min(up.failing, 100)).every((st) => st === 'retrying')).toBe(true);
    const text = await spfs(['status', a.mountpoint]);
    expect(text.stdout).toMatch(new RegExp(`^ {2}\\.\\.\\. and ${up.files - 100} more$`, 'm'));
    await fetch(`http://127.0.0.1:${new URL(server.url).port}/_spfs/admin/faults`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect((await flushing).code).toBe(0);
    expect((await statusJson(a.mountpoint)).uploads).toMatchObject({ files: 0, items: [], itemsOmitted: 0 });
  }, 180_000);

  test('spfs flush draws files and bytes under a terminal', async () => {
    writeFileSync(join(a.mountpoint, 'second.txt'), 'x'.repeat(4096));
    await eventually(
      async () => ((await statusJson(a.mountpoint)).uploads?.files === 1 ? true : undefined),
      'queued',
    );
    const r = spfsOnPty(['flush', a.mountpoint]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/spfs: uploading \[/);
    expect(r.stdout).toMatch(/1 files, 4096 bytes uploaded/);
    expect(r.stdout).toContain('everything is on the server');
  }, 120_000);

  test('spfs doctor passes for a healthy mount, checking its server, credentials and cache disk', async () => {
    const r = await spfs(['doctor', a.mountpoint, '--user', server.user, '--password-env', PASSWORD_ENV]);
    expect(r.stdout).toMatch(/^ok \/dev\/fuse: /m);
    expect(r.stdout).toMatch(/^ok mounts: 2 mounts, none stale$/m);
    expect(r.stdout).toMatch(/^ok server: .* answers/m);
    expect(r.stdout).toMatch(/^ok credentials: accepted/m);
    expect(r.stdout).toMatch(/^ok cache disk: /m);
    expect(r.stdout).not.toContain(server.password);
    expect(r.code).toBe(0);
    const wrong = await runSpfs(['doctor', server.url, '--user', server.user, '--password-env', 'WRONG_PW'], {
      SPFS_STATE_DIR: state,
      WRONG_PW: 'not-the-password',
    });
    expect(wrong.stdout).toMatch(/^FAIL credentials: refused by the server/m);
    expect(wrong.code).toBe(1);
  }, 60_000);

  test('a daemon that answers nothing (stopped): spfs status says so instead of waiting on its mount', async () => {
    // fuse-native: the kernel keeps the mountpoint's attributes for 1 s only, so stat-ing it after that asks the
    // daemon (the libfuse3 adapter's 60 s would hide the wait this test is about).
    const c = track('c');
    expect((await spfs(mountArgs('c', ['--fuse', '2']))).code).toBe(0);
    const [pid] = daemonPids(c.cacheDir);
    process.kill(pid!, 'SIGSTOP');
    // Without the fix the status command waits in the kernel until the daemon runs again: let it, after a while.
    const resume = setTimeout(() => process.kill(pid!, 'SIGCONT'), 60_000);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const r = await spfs(['status', c.mountpoint, '--json']);
      const s = JSON.parse(r.stdout) as MountStatus;
      expect(s.state).toBe('stale');
      expect(s.stale).toMatchObject({ reason: 'no-answer' });
      expect(r.code).toBe(1);
    } finally {
      clearTimeout(resume);
      process.kill(pid!, 'SIGCONT');
    }
    expect((await c.unmount()).code).toBe(0);
  }, 120_000);

  test('a daemon killed with SIGKILL: status and doctor say stale with the fix; spfs unmount fixes it', async () => {
    const pids = daemonPids(b.cacheDir);
    expect(pids).toHaveLength(1);
    process.kill(pids[0]!, 'SIGKILL');
    await waitForExit(pids, 10_000);
    expect(isMounted(b.mountpoint)).toBe(true); // left behind: ENOTCONN
    const fix = `spfs unmount ${b.mountpoint}`;

    const list = await spfs(['status']);
    expect(list.stdout).toContain(
      `${b.mountpoint}  ${server.url}  STALE: the daemon (pid ${pids[0]}) is dead`,
    );
    expect(list.stdout).toContain(`run: ${fix}`);
    expect(list.stdout).toContain(`${a.mountpoint}  ${server.url}  online`);
    const one = await statusJson(b.mountpoint);
    expect(one.state).toBe('stale');
    expect(one.stale).toMatchObject({ reason: 'daemon-dead', fix });
    expect(missingFields(one, documentedStatusFields())).toEqual([]);
    expect((await spfs(['status', b.mountpoint])).code).toBe(1);

    const sick = await spfs(['doctor']);
    expect(sick.code).toBe(1);
    expect(sick.stdout).toContain(`FAIL mount ${b.mountpoint}: stale: the daemon (pid ${pids[0]}) is dead`);
    expect(sick.stdout).toContain(`fix: ${fix}`);

    const fixed = await spfs(['unmount', b.mountpoint]);
    expect(fixed.code).toBe(0);
    expect(isMounted(b.mountpoint)).toBe(false);
    const well = await spfs(['doctor']);
    expect(well.stdout).toMatch(/^ok mounts: 1 mounts, none stale$/m);
    expect(well.code).toBe(0);
  }, 60_000);

  test('no log file of these Basic-auth mounts holds the password or the Authorization header', () => {
    const basic = Buffer.from(`${server.user}:${server.password}`).toString('base64');
    let lines = 0;
    for (const m of [a, b])
      for (const f of readdirSync(m.cacheDir).filter((n) => n.startsWith('spfs.log') || n === 'daemon.out')) {
        const text = readFileSync(join(m.cacheDir, f), 'utf8');
        lines += text.split('\n').length;
        expect(text).not.toContain(server.password);
        expect(text).not.toContain(basic);
      }
    expect(lines).toBeGreaterThan(10); // the logs hold what happened (mount, sync passes, upload failures)
  });
});
