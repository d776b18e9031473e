// `spfs mount URL DIR`: checks what can be checked up front, then runs the daemon in this process (--foreground)
// or in a detached child that reports "ready" over a pipe before this command exits 0.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, realpathSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  authScheme,
  clientAuthOptions,
  INSECURE_WARNING,
  needsPassword,
  type AuthCliOptions,
} from './auth-options';
import { resolveCredentials, type Credentials } from './credentials';
import type { SyncProgress } from '../sync/tree-sync';
import { defaultCacheDir } from './paths';
import { startProgress, type Progress } from './progress';
import { parseSize } from './size-option';
import { assertFuseAvailable, assertUsableMountpoint } from './system-checks';
import { EXIT, UsageError } from './usage-error';

export interface MountCommandOptions extends AuthCliOptions {
  credentialsFile?: string;
  cacheDir?: string;
  cacheSize?: string;
  cacheMinFree?: string;
  hydrate?: 'ranges' | 'full';
  pollInterval?: string;
  writeBack?: string;
  user?: string;
  passwordEnv?: string;
  foreground?: boolean;
  logLevel?: string;
  debugFuse?: boolean;
  fuse?: string;
  /** Internal: the daemon child reports to this fd. */
  notifyFd?: string;
}

/** The daemon sends crawl progress to `spfs mount` at most this often. */
const PROGRESS_EVERY_MS = 100;

/** How long a stopped daemon waits for a natural exit before it exits itself. */
const DAEMON_EXIT_GRACE_MS = 200;

/** Env var through which a prompted password reaches the daemon child (never argv). Deleted on read. */
const CHILD_PASSWORD_ENV = 'SPFS_DAEMON_PASSWORD';

export async function mountCommand(url: string, dir: string, o: MountCommandOptions): Promise<number> {
  const writeBackS = o.writeBack !== undefined ? Number(o.writeBack) : undefined;
  if (writeBackS !== undefined && !(Number.isFinite(writeBackS) && writeBackS >= 0))
    throw new UsageError('--write-back must be a number of seconds, 0 or more');
  const writeBackMs = writeBackS !== undefined ? Math.round(writeBackS * 1000) : undefined;
  if (!/^https?:\/\//i.test(url)) throw new UsageError(`not an http(s) URL: ${url}`);
  const mountpoint = resolve(dir);
  assertFuseAvailable();
  assertUsableMountpoint(mountpoint);
  const real = realpathSync(mountpoint);
  const cacheDir = resolve(o.cacheDir ?? defaultCacheDir(url, o.user));
  const cacheMaxBytes = o.cacheSize !== undefined ? parseSize(o.cacheSize, '--cache-size') : undefined;
  if (cacheMaxBytes !== undefined && !(cacheMaxBytes > 0))
    throw new UsageError('--cache-size must be positive');
  const cacheMinFreeBytes =
    o.cacheMinFree !== undefined ? parseSize(o.cacheMinFree, '--cache-min-free') : undefined;

  const fuse = o.fuse ?? process.env.SPFS_FUSE ?? 'auto';
  if (fuse !== 'auto' && fuse !== '3' && fuse !== '2') throw new UsageError('--fuse must be auto, 3 or 2');

  const pollIntervalS = o.pollInterval !== undefined ? Number(o.pollInterval) : undefined;
  if (pollIntervalS !== undefined && !(Number.isInteger(pollIntervalS) && pollIntervalS >= 1))
    throw new UsageError('--poll-interval must be a whole number of seconds, at least 1');

  const scheme = authScheme(o, o.user !== undefined || o.credentialsFile !== undefined);
  if (o.insecure && o.notifyFd === undefined) process.stderr.write(`spfs: ${INSECURE_WARNING}\n`);
  const inheritedPassword = process.env[CHILD_PASSWORD_ENV];
  delete process.env[CHILD_PASSWORD_ENV];
  const credentials =
    o.user !== undefined && inheritedPassword !== undefined
      ? { user: o.user, password: inheritedPassword }
      : needsPassword(scheme)
        ? await resolveCredentials(o.user, o.passwordEnv, o.credentialsFile)
        : undefined;
  const client = clientAuthOptions(url, o, scheme, credentials);

  if (o.foreground) {
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
      ...(cacheMaxBytes !== undefined ? { cacheMaxBytes } : {}),
      ...(cacheMinFreeBytes !== undefined ? { cacheMinFreeBytes } : {}),
      ...(o.hydrate !== undefined ? { hydrate: o.hydrate } : {}),
      ...(pollIntervalS !== undefined ? { pollIntervalS } : {}),
      ...(writeBackMs !== undefined ? { writeBackMs } : {}),
      ...(o.logLevel !== undefined ? { logLevel: o.logLevel } : {}),
      ...(o.debugFuse ? { debugFuse: true } : {}),
      ...(notifyFd === undefined ? { logToTerminal: true } : {}),
      fuse,
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
  return spawnDaemon(url, real, cacheDir, o, credentials);
}

/**
 * V8 limits for the long-running daemon: a 2 MiB young generation and a 160 MiB old space make the collector run
 * before the heap balloons, keeping RSS under 200 MB for a 100,000-item library (docs/ARCHITECTURE.md, Memory).
 */
const DAEMON_NODE_FLAGS = ['--max-semi-space-size=2', '--max-old-space-size=160'];

function spawnDaemon(
  url: string,
  mountpoint: string,
  cacheDir: string,
  o: MountCommandOptions,
  credentials: Credentials | undefined,
): Promise<number> {
  mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
  const out = openSync(join(cacheDir, 'daemon.out'), 'a', 0o600);
  const args = [
    ...DAEMON_NODE_FLAGS,
    process.argv[1] ?? '',
    'mount',
    url,
    mountpoint,
    '--foreground',
    '--notify-fd',
    '3',
    '--cache-dir',
    cacheDir,
  ];
  const user = credentials?.user ?? o.user;
  if (user !== undefined) args.push('--user', user);
  if (o.auth !== undefined) args.push('--auth', o.auth);
  if (o.tokenFile !== undefined) args.push('--token-file', o.tokenFile);
  if (o.tokenCommand !== undefined) args.push('--token-command', o.tokenCommand);
  if (o.cookieFile !== undefined) args.push('--cookie-file', o.cookieFile);
  if (o.ca !== undefined) args.push('--ca', o.ca);
  if (o.insecure) args.push('--insecure');
  if (o.cacheSize !== undefined) args.push('--cache-size', o.cacheSize);
  if (o.cacheMinFree !== undefined) args.push('--cache-min-free', o.cacheMinFree);
  if (o.hydrate !== undefined) args.push('--hydrate', o.hydrate);
  if (o.pollInterval !== undefined) args.push('--poll-interval', o.pollInterval);
  if (o.writeBack !== undefined) args.push('--write-back', o.writeBack);
  if (o.logLevel !== undefined) args.push('--log-level', o.logLevel);
  if (o.fuse !== undefined) args.push('--fuse', o.fuse);
  const env = { ...process.env };
  if (credentials !== undefined) env[CHILD_PASSWORD_ENV] = credentials.password;
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out, 'pipe'], env });
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
