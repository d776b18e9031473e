// Start-up recovery of a library folder after a crash: temp files of interrupted uploads, blobs no committed item
// references (renamed in just before a kill -9, or replaced versions not yet unlinked), BITS fragment files whose
// session row is gone, and bytes past a session's recorded length. Only this server's files, inside the library.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Store } from './store';

export interface SweepResult {
  temps: number;
  blobs: number;
  uploads: number;
}

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export function sweepOrphans(store: Store): SweepResult {
  const out: SweepResult = { temps: 0, blobs: 0, uploads: 0 };
  for (const f of list(store.tmpDir)) {
    fs.rmSync(path.join(store.tmpDir, f), { force: true, recursive: true });
    out.temps++;
  }
  // A library still being created (no meta) keeps its blobs: its creator decides.
  if (store.meta() !== undefined) {
    const keep = store.referencedBlobs();
    for (const f of list(store.blobDir)) {
      if (keep.has(f)) continue;
      fs.rmSync(path.join(store.blobDir, f), { force: true });
      out.blobs++;
    }
  }
  const sessions = store.sessions.ids();
  for (const f of list(store.uploadDir)) {
    const id = f.replace(/\.part$/, '');
    const file = path.join(store.uploadDir, f);
    if (!sessions.has(id)) {
      fs.rmSync(file, { force: true });
      out.uploads++;
      continue;
    }
    // A fragment cut by the crash may have written past what its session recorded: resume from the record.
    const received = store.sessions.get(id)?.received ?? 0;
    if (fs.statSync(file).size > received) fs.truncateSync(file, received);
  }
  return out;
}
