// Runs `bin/spfs` as a user would, in child processes: a reference server and mounts, with cleanup that always
// unmounts and kills what was started, even when a test fails.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { filesWithSecrets, secretForms } from './secret-scan';

export const ROOT = resolve(__dirname, '..', '..');
export const BIN = join(ROOT, 'bin', 'spfs');
export const PASSWORD_ENV = 'SPFS_TEST_PASSWORD';

/** Fails loudly (never skips) when FUSE or the build is missing. */
export function assertE2EPrerequisites(): void {
  if (!existsSync('/dev/fuse')) {
    throw new Error(
      'FUSE is not available (/dev/fuse missing): install it with `sudo apt-get install fuse3 libfuse2`',
    );
  }
  try {
    execFileSync('sh', ['-c', 'command -v fusermount'], { stdio: 'ignore' });
  } catch {
    throw new Error('fusermount is missing: install it with `sudo apt-get install fuse3 libfuse2`');
  }
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    throw new Error('the build is missing: run `npm run build` (scripts/test.sh does it)');
  }
}

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `spfs-${prefix}-`));
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `spfs ARGS` to completion. */
export function runSpfs(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 120_000,
): Promise<RunResult> {
  return new Promise((res) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        // A spawn failure, a timeout or an output past execFile's buffer has no exit code: say which.
        const why = err && typeof err.code !== 'number' ? `[runSpfs: ${err.message}] ` : '';
        res({ code, stdout, stderr: why + stderr });
      },
    );
  });
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  password: string;
  user: string;
  dataDir: string;
  requestLog: string;
  stop(): Promise<void>;
}

export async function startServerProcess(opts: {
  dataDir: string;
  seedDir?: string;
  extraArgs?: string[];
  /** Reuse a password (a restarted server must accept the mounts' credentials). */
  password?: string;
  /** A fixed port (a server restarted after SIGKILL must be found where the mounts left it); default ephemeral. */
  port?: number;
}): Promise<ServerProcess> {
  const password = opts.password ?? `pw-${Math.random().toString(36).slice(2)}`;
  const user = 'tester';
  const requestLog = join(opts.dataDir, '..', `requests-${Date.now()}.log`);
  const args = [
    BIN,
    'serve',
    '--data',
    opts.dataDir,
    '--port',
    String(opts.port ?? 0),
    '--user',
    user,
    '--password-env',
    PASSWORD_ENV,
  ];
  if (opts.seedDir) args.push('--seed', opts.seedDir);
  args.push('--request-log', requestLog, ...(opts.extraArgs ?? []));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, [PASSWORD_ENV]: password },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((res, rej) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', (line) => res(line.trim()));
    child.once('exit', (code) =>
      rej(new Error(`spfs serve exited (${code}) before printing its URL: ${stderr}`)),
    );
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return { url, child, password, user, dataDir: opts.dataDir, requestLog, stop };
}

/** One request-log line: `t` is when the answer ended (ISO time), `ms` how long it took, so it arrived at t − ms. */
export interface RequestLogLine {
  t: string;
  method: string;
  path: string;
  query?: string;
  status: number;
  user?: string | null;
  range?: string;
  bytes?: number;
  ms: number;
}

/** Request-log lines of the server (one JSON object per request; a line cut by a SIGKILL is left out). */
export function readRequestLog(server: ServerProcess): RequestLogLine[] {
  if (!existsSync(server.requestLog)) return [];
  const lines: RequestLogLine[] = [];
  for (const l of readFileSync(server.requestLog, 'utf8').split('\n')) {
    if (l.trim().length === 0) continue;
    try {
      lines.push(JSON.parse(l) as RequestLogLine);
    } catch {
      // the last line of a killed server may be half written
    }
  }
  return lines;
}

/** A TCP port free right now on 127.0.0.1 (for a server that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => res(port));
    });
  });
}

export function isMounted(path: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === path);
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** `spfs ARGS` under a pseudo-terminal: util-linux `script` gives it a pty and copies what it drew to stdout. */
export function runSpfsOnPty(args: string[], env: NodeJS.ProcessEnv = {}): RunResult {
  const cmd = [process.execPath, BIN, ...args].map(quote).join(' ');
  try {
    const out = execFileSync('script', ['-qec', cmd, '/dev/null'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: 0, stdout: out, stderr: '' };
  } catch (err) {
    const e = err as { status?: number; stdout?: string };
    return { code: e.status ?? 1, stdout: e.stdout ?? '', stderr: '' };
  }
}

export interface MountProcess {
  mountpoint: string;
  cacheDir: string;
  unmount(): Promise<RunResult>;
}

export async function mountLibrary(
  server: ServerProcess,
  mountpoint: string,
  cacheDir: string,
  extra: string[] = [],
): Promise<MountProcess> {
  const r = await runSpfs(
    [
      'mount',
      server.url,
      mountpoint,
      '--user',
      server.user,
      '--password-env',
      PASSWORD_ENV,
      '--cache-dir',
      cacheDir,
      ...extra,
    ],
    { [PASSWORD_ENV]: server.password, SPFS_STATE_DIR: join(cacheDir, '..', 'state') },
  );
  if (r.code !== 0) throw new Error(`spfs mount failed (${r.code}): ${r.stderr}`);
  return {
    mountpoint,
    cacheDir,
    unmount: () => runSpfs(['unmount', mountpoint], { SPFS_STATE_DIR: join(cacheDir, '..', 'state') }),
  };
}

/**
 * Mounts `server` at `<dir>/mnt-<name>` (created if missing) with its cache in `<dir>/cache-<name>`. The mountpoint
 * goes into `track` before mounting, so cleanup finds it even when mounting fails half way.
 */
export async function mountUnder(
  server: ServerProcess,
  dir: string,
  name: string,
  extra: string[] = [],
  track?: string[],
): Promise<MountProcess> {
  const mnt = join(dir, `mnt-${name}`);
  mkdirSync(mnt, { recursive: true });
  track?.push(mnt);
  return mountLibrary(server, mnt, join(dir, `cache-${name}`), extra);
}

/** Last-resort cleanup for afterAll: detach a mount even if its daemon is stuck, then remove temp dirs. */
export async function forceCleanup(
  mountpoints: string[],
  dirs: string[],
  servers: ServerProcess[],
): Promise<void> {
  for (const m of mountpoints) {
    if (isMounted(m)) {
      try {
        execFileSync('fusermount', ['-u', '-z', m], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
  // Their daemons notice the detach within a couple of seconds; make sure none outlives the test.
  await stopDaemons((argv) => mountpoints.some((m) => argv.includes(m)));
  for (const s of servers) await s.stop();
  const leaks = filesWithSecrets(dirs, servers.flatMap(secretForms));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (leaks.length > 0) throw new Error(`a credential was written to a file:\n${leaks.join('\n')}`);
}

/** afterAll for tests holding mounts: a clean `spfs unmount` of each (uploads drained), then forceCleanup. */
export async function cleanupMounts(
  mounts: MountProcess[],
  dirs: string[],
  servers: ServerProcess[],
): Promise<void> {
  for (const m of mounts) await m.unmount().catch(() => undefined);
  await forceCleanup(
    mounts.map((m) => m.mountpoint),
    dirs,
    servers,
  );
}

const DAEMON_STOP_WAIT_MS = 10_000;

/** SIGTERMs `spfs mount --foreground` daemons whose argv matches, waits for them, SIGKILLs any that linger. */
async function stopDaemons(matches: (argv: string[]) => boolean): Promise<void> {
  const pids = allDaemons()
    .filter((d) => matches(d.argv))
    .map((d) => d.pid);
  for (const pid of pids) if (processAlive(pid)) process.kill(pid, 'SIGTERM');
  await waitForExit(pids, DAEMON_STOP_WAIT_MS);
  for (const pid of pids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

/** Waits until every pid has exited (or `timeoutMs` passed). */
export async function waitForExit(pids: number[], timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (pids.some(processAlive) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

function allDaemons(): Array<{ pid: number; argv: string[] }> {
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes('mount') && argv.includes('--foreground')) out.push({ pid: Number(entry), argv });
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/** Pids of `spfs mount --foreground` daemons using this cache folder (read from /proc, no shell). */
export function daemonPids(cacheDir: string): number[] {
  return allDaemons()
    .filter((d) => {
      const i = d.argv.indexOf('--cache-dir');
      return i >= 0 && d.argv[i + 1] === cacheDir;
    })
    .map((d) => d.pid);
}

/** The daemon's FUSE request counts by operation, from `spfs status` (libfuse3 adapter only; {} otherwise). */
export async function fuseRequestCounts(m: MountProcess): Promise<Record<string, number>> {
  const r = await runSpfs(['status', m.mountpoint], { SPFS_STATE_DIR: join(m.cacheDir, '..', 'state') });
  if (r.code !== 0) throw new Error(`spfs status failed (${r.code}): ${r.stderr}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('fuse requests: '));
  const counts: Record<string, number> = {};
  for (const part of line?.slice('fuse requests: '.length).split(', ') ?? []) {
    const [op, n] = part.split(' ');
    if (op !== undefined && n !== undefined && op !== 'none') counts[op] = Number(n);
  }
  return counts;
}

/**
 * What a mount's daemon said last, for a failure message: the tail of `<cache>/daemon.out` (its stderr: a V8 out-of-
 * memory report, a native crash) and its log's last warnings and errors.
 */
export function daemonLastWords(cacheDir: string, lines = 15): string {
  const tail = (file: string, keep: (l: string) => boolean): string[] => {
    try {
      return readFileSync(join(cacheDir, file), 'utf8').split('\n').filter(keep).slice(-lines);
    } catch {
      return [];
    }
  };
  const out = tail('daemon.out', (l) => l.trim() !== '');
  const log = tail('spfs.log', (l) => /"level":(40|50|60)/.test(l));
  return [
    `daemon.out (last ${out.length} lines):`,
    ...out,
    `spfs.log warnings (last ${log.length}):`,
    ...log,
  ].join('\n');
}
