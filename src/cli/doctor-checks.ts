// The checks of `spfs doctor`, each a plain function from facts gathered at the edge (doctor-command.ts) to one
// result with the fix for a failure, so that every verdict is testable without FUSE, a mount or a server.
import type { MountStatus } from './mount-status';
import { formatBytes } from './mount-status';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  status: CheckStatus;
  /** What was checked, a few words. */
  name: string;
  /** What was found. */
  detail: string;
  /** What to run or change (failures and warnings). */
  fix?: string;
}

const INSTALL_FUSE = 'sudo apt-get install fuse3 libfuse2';

/** `/dev/fuse` present and openable for reading and writing: `openError` is the open's error code, if any. */
export function checkDevFuse(openError: string | undefined): CheckResult {
  const name = '/dev/fuse';
  if (openError === undefined) return { status: 'ok', name, detail: 'present and openable' };
  if (openError === 'ENOENT')
    return {
      status: 'fail',
      name,
      detail: 'missing: the kernel has no FUSE device here',
      fix: `${INSTALL_FUSE} && sudo modprobe fuse (in a container: run it with --device /dev/fuse)`,
    };
  return {
    status: 'fail',
    name,
    detail: `cannot be opened (${openError})`,
    fix: 'make it readable and writable for your user: sudo chmod 666 /dev/fuse (or join the group that owns it)',
  };
}

export interface FusermountFact {
  /** The program found on PATH (fusermount3 preferred), or undefined. */
  path?: string;
  setuid: boolean;
}

/** fusermount3 (or fusermount) on PATH, and setuid root unless we are root. */
export function checkFusermount(f: FusermountFact, isRoot: boolean): CheckResult {
  const name = 'fusermount';
  if (f.path === undefined)
    return {
      status: 'fail',
      name,
      detail: 'neither fusermount3 nor fusermount is on PATH',
      fix: INSTALL_FUSE,
    };
  if (!f.setuid && !isRoot)
    return {
      status: 'fail',
      name,
      detail: `${f.path} is not setuid root: a normal user cannot mount`,
      fix: `sudo chmod u+s ${f.path}`,
    };
  return { status: 'ok', name, detail: `${f.path}${f.setuid ? ' (setuid root)' : ' (running as root)'}` };
}

/** The libfuse3 addon: `unavailable` is why it cannot run (undefined: it can). */
export function checkFuse3Addon(unavailable: string | undefined): CheckResult {
  const name = 'libfuse3 adapter';
  if (unavailable === undefined) return { status: 'ok', name, detail: 'built; mounts use libfuse3' };
  return {
    status: 'warn',
    name,
    detail: `not usable (${unavailable}); mounts run on fuse-native (libfuse 2), which is slower`,
    fix: 'sudo apt-get install build-essential libfuse3-dev fuse3 && bash scripts/build-addon.sh',
  };
}

/** `user_allow_other` in /etc/fuse.conf (text undefined: no such file). Only `-o allow_other` needs it. */
export function checkAllowOther(fuseConf: string | undefined, isRoot: boolean): CheckResult {
  const name = 'user_allow_other';
  const set = fuseConf?.split('\n').some((l) => l.trim() === 'user_allow_other') ?? false;
  if (set) return { status: 'ok', name, detail: 'set in /etc/fuse.conf: allow_other mounts are possible' };
  if (isRoot) return { status: 'ok', name, detail: 'not set in /etc/fuse.conf; not needed as root' };
  return {
    status: 'warn',
    name,
    detail: 'not set in /etc/fuse.conf: only matters to mount with allow_other (other users see the files)',
    fix: 'echo user_allow_other | sudo tee -a /etc/fuse.conf (only if you need allow_other)',
  };
}

/** One failure per mount record whose daemon died or whose mount is gone; one ok when none. */
export function checkStaleMounts(mounts: readonly MountStatus[]): CheckResult[] {
  const stale = mounts.filter((m) => m.stale !== null);
  if (stale.length === 0)
    return [{ status: 'ok', name: 'mounts', detail: `${mounts.length} mounts, none stale` }];
  return stale.map((m) => ({
    status: 'fail',
    name: `mount ${m.mountpoint}`,
    detail: `stale: ${m.stale?.detail ?? ''}`,
    fix: m.stale?.fix ?? `spfs unmount ${m.mountpoint}`,
  }));
}

/** How a request to the server ended: an HTTP status, or a network failure. */
export type Reachability = { status: number } | { error: string };

export function checkServerReachable(url: string, r: Reachability): CheckResult {
  const name = 'server';
  if ('status' in r) return { status: 'ok', name, detail: `${url} answers (HTTP ${r.status})` };
  return {
    status: 'fail',
    name,
    detail: `cannot reach ${url}: ${r.error}`,
    fix: 'check the URL, the network, a proxy (HTTPS_PROXY) or a VPN; then run spfs doctor again',
  };
}

/** How signing in went: accepted, refused (401/403), or another failure (its message). */
export type SignIn =
  { accepted: true; library: string } | { refused: true } | { failed: string } | { skipped: string };

export function checkCredentials(s: SignIn): CheckResult {
  const name = 'credentials';
  if ('accepted' in s) return { status: 'ok', name, detail: `accepted; library ${s.library}` };
  if ('skipped' in s)
    return {
      status: 'warn',
      name,
      detail: s.skipped,
      fix: 'pass --user and --password-env (or the other auth options of spfs mount) to check them',
    };
  if ('refused' in s)
    return {
      status: 'fail',
      name,
      detail: 'refused by the server (HTTP 401/403)',
      fix: 'check --user and the password (or the token / cookie file); for NTLM use DOMAIN\\user',
    };
  return {
    status: 'fail',
    name,
    detail: `signing in failed: ${s.failed}`,
    fix: 'see the message; spfs mount says the same',
  };
}

export interface CacheSpaceFact {
  cacheDir: string;
  /** Bytes free for us on the cache folder's filesystem. */
  freeBytes: number;
  /** Bytes the cache holds now. */
  usedBytes: number;
  /** --cache-size. */
  maxBytes: number;
}

/** The cache can grow to its bound: what it holds plus the free space covers `--cache-size`. */
export function checkCacheSpace(f: CacheSpaceFact): CheckResult {
  const name = 'cache disk';
  const room = f.usedBytes + f.freeBytes;
  const detail = `${formatBytes(f.freeBytes)} free at ${f.cacheDir}; cache holds ${formatBytes(f.usedBytes)} of ${formatBytes(f.maxBytes)}`;
  if (room >= f.maxBytes) return { status: 'ok', name, detail };
  return {
    status: f.freeBytes === 0 ? 'fail' : 'warn',
    name,
    detail: `${detail}: the cache can only grow to ${formatBytes(room)}`,
    fix: `free space on that disk, or mount with --cache-size ${Math.floor(room / 1024 ** 2)}M (or a --cache-dir on a bigger disk)`,
  };
}

/** `ok name: detail`, `FAIL name: detail` + `  fix: …`. */
export function formatCheck(c: CheckResult): string {
  const head = `${c.status === 'fail' ? 'FAIL' : c.status} ${c.name}: ${c.detail}`;
  return c.fix !== undefined && c.status !== 'ok' ? `${head}\n     fix: ${c.fix}` : head;
}

/** 0 when nothing failed (warnings pass), 1 otherwise. */
export function doctorExitCode(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}
