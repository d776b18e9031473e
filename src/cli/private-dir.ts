// The folders only the mounting user may enter: the cache folder (metadata, content, local copies, the control
// socket) and the state folder (mount records). Made 0700, and tightened to 0700 when they exist looser (a
// cache folder that is the root of a fresh tmpfs is 1777, an old one may be 0755).
import { chmodSync, mkdirSync, statSync } from 'node:fs';

/** Owner-only: no group or other bits on folders and files the daemon makes (its process umask). */
export const PRIVATE_UMASK = 0o077;

/** Creates `dir` (and missing parents) 0700, or takes group and other access away from an existing one. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((st.mode & 0o7077) !== 0 && st.uid === process.getuid?.()) chmodSync(dir, 0o700);
}
