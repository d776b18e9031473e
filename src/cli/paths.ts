// Default locations of per-library caches and of the registry of running mounts (XDG base directories).
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheRoot(): string {
  return process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
}

export function stateRoot(): string {
  return (
    process.env.SPFS_STATE_DIR ??
    join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'spfs')
  );
}

/** One cache folder per (site URL, user): a remount of the same library finds its metadata and content. */
export function defaultCacheDir(siteUrl: string, user: string | undefined): string {
  const key = createHash('sha256')
    .update(`${siteUrl.replace(/\/+$/, '')}\n${user ?? ''}`)
    .digest('hex')
    .slice(0, 16);
  return join(cacheRoot(), 'spfs', key);
}

export function shortHash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 16);
}
