// Registry of running mount daemons, one small JSON file per mountpoint, so `spfs unmount DIR` can find the
// daemon that serves DIR and ask it to detach cleanly.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shortHash, stateRoot } from './paths';
import { ensurePrivateDir } from './private-dir';

export interface MountRecord {
  pid: number;
  mountpoint: string;
  cacheDir: string;
  url: string;
  startedMs: number;
}

function recordFile(mountpoint: string): string {
  return join(stateRoot(), 'mounts', `${shortHash(mountpoint)}.json`);
}

export function writeMountRecord(rec: MountRecord): void {
  const file = recordFile(rec.mountpoint);
  ensurePrivateDir(stateRoot(), 'state folder');
  ensurePrivateDir(join(stateRoot(), 'mounts'), 'state folder');
  writeFileSync(file, JSON.stringify(rec), { mode: 0o600 });
}

export function readMountRecord(mountpoint: string): MountRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordFile(mountpoint), 'utf8')) as MountRecord;
  } catch {
    return undefined;
  }
}

/** Every mount record of this user (`spfs status`, `spfs doctor`), sorted by mountpoint; unreadable ones skipped. */
export function listMountRecords(): MountRecord[] {
  const dir = join(stateRoot(), 'mounts');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  const out: MountRecord[] = [];
  for (const n of names) {
    try {
      out.push(JSON.parse(readFileSync(join(dir, n), 'utf8')) as MountRecord);
    } catch {
      // being written or removed right now
    }
  }
  return out.sort((a, b) => a.mountpoint.localeCompare(b.mountpoint));
}

export function removeMountRecord(mountpoint: string, pid: number): void {
  const rec = readMountRecord(mountpoint);
  if (rec === undefined || rec.pid === pid) rmSync(recordFile(mountpoint), { force: true });
}
