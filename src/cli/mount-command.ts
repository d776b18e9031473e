// `spfs mount URL DIR`: checks what can be checked up front, then runs the daemon in this process (--foreground)
// or in a detached child that reports "ready" over a pipe before this command exits 0.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, realpathSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { authScheme, clientAuthOptions, INSECURE_WARNING, needsPassword } from './auth-options';
import { resolveCredentials, type Credentials } from './credentials';
import type { SyncProgress } from '../sync/tree-sync';
import { loadProfile } from './config-file';
import {
  daemonArgs,
  fromEnvironment,
  fromFlags,
  fromMountOptions,
  resolveSettings,
  withoutOptionVariables,
  type ResolvedSettings,
} from './option-sources';
import type { SettingKey } from './options-table';
import { defaultCacheDir } from './paths';
import { ensurePrivateDir } from './private-dir';
import { startProgress, type Progress } from './progress';
import { assertAllowOtherPermitted, assertFuseAvailable, assertUsableMountpoint } from './system-checks';
import { EXIT, UsageError } from './usage-error';

/** What commander hands over: the table's flags (text, or `true` for a switch), `-o` lists and the internal fd. */
export type MountCommandOptions = Partial<Record<SettingKey, string | boolean>> & {
  /** `-o` lists, in order given. */
  options?: string[];
  /** Internal: the daemon child reports to this fd. */
  notifyFd?: string;
  /** Internal: the daemon child reads the password from this fd (its stdin, a pipe) up to EOF. */
  passwordFd?: string;
};

/** The daemon sends crawl progress to `spfs mount` at most this often. */
const PROGRESS_EVERY_MS = 100;

/** How long a stopped daemon waits for a natural exit before it exits itself. */
const DAEMON_EXIT_GRACE_MS = 200;

/**
 * How the password reaches the daemon child: its stdin, a pipe the parent writes once and closes. Not argv (every
 * user's `ps`) and not the environment: /proc/PID/environ keeps the block a process started with for its whole
 * life, whatever it deletes from process.env.
 */
const CHILD_PASSWORD_FD = 0;

/**
 * `source` is an http(s) URL or the name of a profile of the config file. Options: flags > `-o` > SPFS_* > the
 * profile > the table's defaults (option-sources.ts).
 */
export async function mountCommand(source: string, dir: string, o: MountCommandOptions): Promise<number> {
  const isUrl = /^https?:\/\//i.test(source);
  if (!isUrl && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(source))
    throw new UsageError(`not an http(s) URL nor a profile name: ${source}`);
  const profile = isUrl ? undefined : loadProfile(source);
  const url = profile?.url ?? source;
  const resolved = resolveSettings([
    fromFlags(o),
    fromMountOptions(o.options ?? []),
    fromEnvironment(process.env),
    profile?.options ?? new Map(),
  ]);
  const s = resolved.values;
  const mountpoint = resolve(dir);
  assertFuseAvailable();
  assertUsableMountpoint(mountpoint);
  if (s.allowOther) assertAllowOtherPermitted();
  const real = realpathSync(mountpoint);
  const cacheDir = s.cacheDir ?? resolve(defaultCacheDir(url, s.user));

  const scheme = authScheme(s, s.user !== undefined || s.credentialsFile !== undefined);
  if (s.insecure && o.notifyFd === undefined) process.stderr.write(`spfs: ${INSECURE_WARNING}\n`);
  const inheritedPassword = o.passwordFd !== undefined ? readPassword(Number(o.passwordFd)) : undefined;
  const credentials =
    s.user !== undefined && inheritedPassword !== undefined
      ? { user: s.user, password: inheritedPassword }
      : needsPassword(scheme)
        ? await resolveCredentials(s.user, s.passwordEnv, s.credentialsFile)
        : undefined;
  const client = clientAuthOptions(url, s, scheme, credentials);

  if (s.foreground) {
    const notifyFd = o.notifyFd !== undefined ? Number(o.notifyFd) : undefined;
    let notified = false;
    let lastProgressMs = 0;
    // Only the daemon needs FUSE, SQLite and the sync engine: the parent `spfs mount` just spawns it.
    const { runMountDaemon } = await import('./mount-daemon');
    const code = await runMountDaemon({
      url,
      mountpoint: real,
      cacheDir,
      credentials,
      client,
      ...(s.cacheSize !== undefined ? { cacheMaxBytes: s.cacheSize } : {}),
      ...(s.cacheMinFree !== undefined ? { cacheMinFreeBytes: s.cacheMinFree } : {}),
      ...(s.hydrate !== undefined ? { hydrate: s.hydrate } : {}),
      ...(s.prefetchFiles !== undefined ? { prefetchFiles: s.prefetchFiles } : {}),
      ...(s.pollInterval !== undefined ? { pollIntervalS: s.pollInterval } : {}),
      ...(s.writeBack !== undefined ? { writeBackMs: Math.round(s.writeBack * 1000) } : {}),
      ...(s.logLevel !== undefined ? { logLevel: s.logLevel } : {}),
      ...(s.debugFuse ? { debugFuse: true } : {}),
      fuse: s.fuse ?? 'auto',
      access: {
        readOnly: s.readOnly === true,
        allowOther: s.allowOther === true,
        defaultPermissions: s.defaultPermissions === true,
        uid: s.uid ?? process.getuid?.() ?? 0,
        gid: s.gid ?? process.getgid?.() ?? 0,
        umask: s.umask ?? 0o022,
      },
      ...(notifyFd === undefined ? { logToTerminal: true } : {}),
      progress: (p) => {
        const now = Date.now();
        if (notifyFd === undefined || notified || now - lastProgressMs < PROGRESS_EVERY_MS) return;
        lastProgressMs = now;
        writeSync(notifyFd, JSON.stringify({ progress: p }) + '\n');
      },
      notify: (msg) => {
        if (notifyFd !== undefined) {
          notified = true;
          writeSync(notifyFd, JSON.stringify(msg) + '\n');
          closeSync(notifyFd);
        } else if (msg.ready) {
          process.stdout.write(`spfs: ${url} mounted at ${real} (${msg.items} items); Ctrl-C to unmount\n`);
        } else {
          process.stderr.write(`spfs: ${msg.error}\n`);
        }
      },
    });
    // Everything is closed by now; a mount detached from outside (`fusermount -u`) leaves fuse-native's native
    // handle behind, which would keep the process alive forever. Exit on our own if nothing else does.
    setTimeout(() => process.exit(code), DAEMON_EXIT_GRACE_MS).unref();
    return code;
  }
  return spawnDaemon(url, real, cacheDir, resolved, credentials);
}

/** The command-line entry point, from src/cli (ts-jest) or dist/cli (the build). */
const SPFS_BIN = join(__dirname, '..', '..', 'bin', 'spfs');

/**
 * V8 limits for the long-running daemon: a 2 MiB young generation and a 160 MiB old space make the collector run
 * before the heap balloons, keeping RSS under 200 MB for a 100,000-item library (docs/ARCHITECTURE.md, Memory).
 */
const DAEMON_NODE_FLAGS = ['--max-semi-space-size=2', '--max-old-space-size=160'];

function spawnDaemon(
  url: string,
  mountpoint: string,
  cacheDir: string,
  settings: ResolvedSettings,
  credentials: Credentials | undefined,
): Promise<number> {
  ensurePrivateDir(cacheDir, 'cache folder');
  const out = openSync(join(cacheDir, 'daemon.out'), 'a', 0o600);
  const args = [
    ...DAEMON_NODE_FLAGS,
    // bin/spfs, also when this runs under the mount(8) helper (bin/mount.spfs).
    SPFS_BIN,
    'mount',
    url,
    mountpoint,
    '--foreground',
    '--notify-fd',
    '3',
    '--cache-dir',
    cacheDir,
    // Everything else the sources gave, as flags; the user a credentials file named is passed on by name.
    ...daemonArgs(settings, ['cacheDir', 'foreground', 'user', 'passwordEnv', 'credentialsFile']),
  ];
  const user = credentials?.user ?? settings.values.user;
  if (user !== undefined) args.push('--user', user);
  if (credentials !== undefined) args.push('--password-fd', String(CHILD_PASSWORD_FD));
  const env = withoutOptionVariables(process.env);
  // The variable --password-env named stays with the user's shell: the daemon gets the password on its stdin.
  const passwordEnv = settings.values.passwordEnv;
  if (passwordEnv !== undefined) delete env[passwordEnv];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: [credentials !== undefined ? 'pipe' : 'ignore', out, out, 'pipe'],
    env,
  });
  if (credentials !== undefined) child.stdin?.end(credentials.password);
  return new Promise((resolveExit) => {
    let text = '';
    let result: string | undefined;
    let crawl: Progress | undefined;
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    pipe.setEncoding('utf8');
    // Progress lines (a first mount's crawl) come before the one line that says ready or why not.
    pipe.on('data', (d: string) => {
      text += d;
      let nl: number;
      while ((nl = text.indexOf('\n')) >= 0) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        if (line.trim() === '' || result !== undefined) continue;
        const msg = JSON.parse(line) as { progress?: SyncProgress };
        if (msg.progress === undefined) {
          result = line;
          continue;
        }
        crawl ??= startProgress({ label: 'spfs: reading the library' });
        crawl.update(msg.progress);
      }
    });
    const finish = (code: number | null): void => {
      crawl?.done();
      const line = result;
      if (line !== undefined) {
        const msg = JSON.parse(line) as { ready: boolean; items?: number; error?: string; exitCode?: number };
        if (msg.ready) {
          process.stdout.write(`spfs: ${url} mounted at ${mountpoint} (${msg.items ?? 0} items)\n`);
          child.unref();
          return resolveExit(EXIT.ok);
        }
        process.stderr.write(`spfs: ${msg.error ?? 'mount failed'}\n`);
        return resolveExit(msg.exitCode ?? EXIT.failure);
      }
      process.stderr.write(
        `spfs: the mount daemon exited (code ${code ?? 'signal'}) before it was ready; see ${join(cacheDir, 'spfs.log')}\n`,
      );
      resolveExit(EXIT.failure);
    };
    pipe.on('end', () => finish(child.exitCode));
    child.on('error', (err) => {
      process.stderr.write(`spfs: cannot start the mount daemon: ${err.message}\n`);
      resolveExit(EXIT.failure);
    });
  });
}

/** The password the parent wrote to `fd` (a pipe), read to its end (the fd stays open: 0 must not be reused). */
function readPassword(fd: number): string {
  return readFileSync(fd, 'utf8');
}
