// Preconditions of a mount checked up front, each with a message that says how to fix it.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { EXIT, UsageError } from './usage-error';

export function assertFuseAvailable(): void {
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch {
    throw new UsageError(
      'FUSE is not available: /dev/fuse is missing or not accessible. Install it with `sudo apt-get install fuse3 libfuse2` (and load the module: `sudo modprobe fuse`).',
      EXIT.fuseMissing,
    );
  }
  try {
    execFileSync('sh', ['-c', 'command -v fusermount'], { stdio: 'ignore' });
  } catch {
    throw new UsageError(
      'fusermount is missing. Install it with `sudo apt-get install fuse3 libfuse2`.',
      EXIT.fuseMissing,
    );
  }
}

/** Mount points currently in /proc/mounts (octal escapes decoded). */
export function mountedPaths(): Set<string> {
  const text = readFileSync('/proc/mounts', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const field = line.split(' ')[1];
    if (field) out.add(field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export function isMounted(path: string): boolean {
  return mountedPaths().has(path);
}

export function assertUsableMountpoint(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new UsageError(`mountpoint ${path} does not exist (create it with mkdir)`, EXIT.mountpoint);
  }
  if (!st.isDirectory()) throw new UsageError(`mountpoint ${path} is not a directory`, EXIT.mountpoint);
  if (isMounted(path)) throw new UsageError(`${path} is already a mount point`, EXIT.mountpoint);
  if (readdirSync(path).length > 0) throw new UsageError(`mountpoint ${path} is not empty`, EXIT.mountpoint);
}

/** Whether /etc/fuse.conf's text lets users other than root mount with allow_other. */
export function fuseConfAllowsOther(text: string): boolean {
  return text.split('\n').some((line) => line.replace(/#.*/, '').trim() === 'user_allow_other');
}

/** fusermount refuses `allow_other` for a user unless /etc/fuse.conf says `user_allow_other`: say so first. */
export function assertAllowOtherPermitted(
  uid: number = process.getuid?.() ?? 0,
  readConf: () => string = () => readFileSync('/etc/fuse.conf', 'utf8'),
): void {
  if (uid === 0) return;
  let text = '';
  try {
    text = readConf();
  } catch {
    // no /etc/fuse.conf: nothing is allowed
  }
  if (!fuseConfAllowsOther(text))
    throw new UsageError(
      'allow_other: /etc/fuse.conf lacks user_allow_other, so FUSE refuses it for users other than root. As root: echo user_allow_other >> /etc/fuse.conf',
    );
}
