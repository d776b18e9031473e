// `spfs unmount DIR`: asks the daemon serving DIR to detach and waits until it has exited; falls back to
// `fusermount -u` for a mount whose daemon is gone.
import { execFileSync } from 'node:child_process';
import { mountpointOf, unmountViaControl } from './control-client';
import { readMountRecord, removeMountRecord } from './mount-registry';
import { isAlive } from './process-alive';
import { isMounted } from './system-checks';
import { EXIT, UsageError } from './usage-error';

const STOP_WAIT_MS = 60_000;
const POLL_MS = 100;

export async function unmountCommand(dir: string, force = false): Promise<number> {
  const mountpoint = mountpointOf(dir);
  const rec = readMountRecord(mountpoint);
  // A writable mount first uploads what is pending (or, with --force, keeps it for the next mount).
  const left = rec !== undefined && isAlive(rec.pid) ? await unmountViaControl(mountpoint, force) : undefined;
  if (rec !== undefined && isAlive(rec.pid)) {
    process.kill(rec.pid, 'SIGTERM');
    const deadline = Date.now() + STOP_WAIT_MS;
    while (isAlive(rec.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, POLL_MS));
    if (isAlive(rec.pid))
      throw new UsageError(
        `the daemon (pid ${rec.pid}) did not stop within ${STOP_WAIT_MS / 1000} s`,
        EXIT.failure,
      );
  } else if (!isMounted(mountpoint)) {
    if (rec === undefined) throw new UsageError(`${mountpoint} is not mounted`, EXIT.failure);
    // A daemon killed after its mount went: only the record is left (`spfs status` calls it stale).
    removeMountRecord(mountpoint, rec.pid);
    process.stdout.write(`spfs: ${mountpoint} was not mounted; removed the record its dead daemon left\n`);
    return EXIT.ok;
  }
  if (isMounted(mountpoint)) execFileSync('fusermount', ['-u', '-z', mountpoint], { stdio: 'inherit' });
  if (rec !== undefined) removeMountRecord(mountpoint, rec.pid);
  process.stdout.write(`spfs: unmounted ${mountpoint}\n`);
  return left !== undefined && left > 0 ? EXIT.failure : EXIT.ok;
}
