// One daemon per cache folder: a proper-lockfile lock plus the holder's pid, so a lock left by a daemon that was
// killed (SIGKILL, power loss) is taken over at once instead of refusing mounts until it goes stale.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { isAlive } from './process-alive';
import { EXIT, UsageError } from './usage-error';

const LOCK_STALE_MS = 30_000;
const LOCK_UPDATE_MS = 10_000;

/** Locks `dir` for this process; resolves with the release function. A live holder → UsageError (exit 6). */
export async function lockCacheDir(dir: string): Promise<() => Promise<void>> {
  const lockPath = join(dir, 'daemon.lock');
  const pidFile = join(dir, 'daemon.pid');
  const attempt = (): Promise<() => Promise<void>> =>
    lockfile.lock(dir, { lockfilePath: lockPath, stale: LOCK_STALE_MS, update: LOCK_UPDATE_MS });
  let release: () => Promise<void>;
  try {
    release = await attempt();
  } catch {
    const holder = readPid(pidFile);
    if (holder === undefined || holder === process.pid || isAlive(holder)) {
      throw new UsageError(
        `the cache folder ${dir} is in use by another spfs mount of the same library` +
          (holder !== undefined ? ` (pid ${holder})` : ''),
        EXIT.mountpoint,
      );
    }
    rmSync(lockPath, { recursive: true, force: true }); // its holder is gone
    release = await attempt();
  }
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
  return async () => {
    // Lock first, pid file second: if the process dies in between, the pid file names a dead holder and the
    // next daemon takes over at once.
    await release();
    rmSync(pidFile, { force: true });
  };
}

function readPid(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
