// The folders only the mounting user may enter: the cache folder (metadata, content, local copies, the control
// socket) and the state folder (mount records). Made 0700, and tightened to 0700 when they exist looser (a
// cache folder that is the root of a fresh tmpfs is 1777, an old one may be 0755).
import { accessSync, chmodSync, constants, mkdirSync, statSync } from 'node:fs';
import { errorMessage } from '../shared/errors';
import { EXIT, UsageError } from './usage-error';

/** Owner-only: no group or other bits on folders and files the daemon makes (its process umask). */
export const PRIVATE_UMASK = 0o077;

/**
 * Creates `dir` (and missing parents) 0700, or takes group and other access away from an existing one. A folder
 * that cannot be made or written (a read-only disk) is a UsageError naming it, before anything else runs.
 */
export function ensurePrivateDir(dir: string, what = 'folder'): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if ((st.mode & 0o7077) !== 0 && st.uid === process.getuid?.()) chmodSync(dir, 0o700);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'it is on a read-only file system' : errorMessage(err);
    throw new UsageError(`the ${what} ${dir} cannot be written: ${why}`, EXIT.mountpoint);
  }
}
