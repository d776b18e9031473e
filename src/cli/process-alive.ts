// Whether a daemon still runs, from its pid (Linux /proc).
import { readFileSync } from 'node:fs';

/** True when a process with that pid exists and is not a zombie (EPERM: it exists but is someone else's). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A killed process not yet reaped by its parent still answers kill(pid, 0) but holds nothing: a daemon killed after
 * its `spfs mount` parent exited may stay a zombie where nothing reaps orphans (a container's init).
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}
