// Registry of running mount daemons, one small JSON file per mountpoint, so `spfs unmount DIR` can find the
// daemon that serves DIR and ask it to detach cleanly.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shortHash, stateRoot } from './paths';

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
  mkdirSync(join(stateRoot(), 'mounts'), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(rec), { mode: 0o600 });
}

export function readMountRecord(mountpoint: string): MountRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordFile(mountpoint), 'utf8')) as MountRecord;
  } catch {
    return undefined;
  }
}

export function removeMountRecord(mountpoint: string, pid: number): void {
  const rec = readMountRecord(mountpoint);
  if (rec === undefined || rec.pid === pid) rmSync(recordFile(mountpoint), { force: true });
}
