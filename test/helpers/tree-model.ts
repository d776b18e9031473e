// What a mount should show: a plain local folder tree kept in memory (file bytes by hash), every version each path
// ever closed (to tell a stale version from a wrong one), and a comparison of a real tree against it that counts
// what the crash and model tests report.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const CONFLICT_MARK = ' (conflict from ';

export interface FileVersion {
  hash: string;
  size: number;
}

export function versionOf(bytes: Buffer): FileVersion {
  return { hash: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
}

/** Folder and file paths relative to the root, '/'-separated, no leading slash. */
export class TreeModel {
  readonly dirs = new Set<string>();
  readonly files = new Map<string, { version: FileVersion; bytes?: Buffer }>();
  /** Conflict copies the rules call for: `stem (conflict from <host> <time>)ext` in `dir`, holding `hash`. */
  readonly conflictCopies: Array<{ dir: string; stem: string; ext: string; hash: string }> = [];
  /** Every hash ever closed under each path (stale versions are recognised, not just "wrong"). */
  private readonly history = new Map<string, Set<string>>();

  /** Keeps small files' bytes so appends and offset writes can be modelled; large ones by hash only. */
  setFile(path: string, bytes: Buffer, keepBytes = bytes.length <= 1 << 20): void {
    const version = versionOf(bytes);
    this.files.set(path, { version, ...(keepBytes ? { bytes } : {}) });
    this.remember(path, version.hash);
  }

  bytesOf(path: string): Buffer | undefined {
    return this.files.get(path)?.bytes;
  }

  /** A rename of a file or a folder (with everything under it). */
  rename(from: string, to: string): void {
    const f = this.files.get(from);
    if (f) {
      this.files.delete(from);
      this.files.set(to, f);
      this.remember(to, f.version.hash);
      return;
    }
    const moved = (p: string): string | undefined =>
      p === from ? to : p.startsWith(`${from}/`) ? to + p.slice(from.length) : undefined;
    for (const d of [...this.dirs]) {
      const n = moved(d);
      if (n !== undefined) {
        this.dirs.delete(d);
        this.dirs.add(n);
      }
    }
    for (const c of this.conflictCopies) c.dir = moved(c.dir) ?? c.dir;
    for (const [p, v] of [...this.files]) {
      const n = moved(p);
      if (n !== undefined) {
        this.files.delete(p);
        this.files.set(n, v);
        this.remember(n, v.version.hash);
      }
    }
  }

  filesUnder(dir: string): string[] {
    return [...this.files.keys()].filter((p) => parentOf(p) === dir);
  }

  dirsUnder(dir: string): string[] {
    return [...this.dirs].filter((p) => parentOf(p) === dir);
  }

  everHeld(path: string, hash: string): boolean {
    return this.history.get(path)?.has(hash) ?? false;
  }

  private remember(path: string, hash: string): void {
    let h = this.history.get(path);
    if (!h) this.history.set(path, (h = new Set()));
    h.add(hash);
  }
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export interface TreeDiff {
  /** In the model, not in the tree. */
  lost: string[];
  /** Present with other bytes than the model's (an older version of that path counts here too, marked stale). */
  wrong: string[];
  /** `… (conflict from …)` copies the model does not call for (with no other writer, every one). */
  conflicts: string[];
  /** Anything else the model does not have (a deleted file back, a folder left behind). */
  unexpected: string[];
}

export const emptyDiff = (): TreeDiff => ({ lost: [], wrong: [], conflicts: [], unexpected: [] });

/** Walks a real folder (a mountpoint) and compares it with the model. */
export async function compareTree(root: string, model: TreeModel): Promise<TreeDiff> {
  const diff = emptyDiff();
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();
  const expected = [...model.conflictCopies];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        seenDirs.add(p);
        if (!model.dirs.has(p)) diff.unexpected.push(`${p}/`);
        await walk(p);
        continue;
      }
      seenFiles.add(p);
      if (e.name.includes(CONFLICT_MARK)) {
        const hash = versionOf(await readFile(join(root, p))).hash;
        const i = expected.findIndex(
          (c) =>
            c.dir === rel &&
            c.hash === hash &&
            e.name.startsWith(`${c.stem}${CONFLICT_MARK}`) &&
            e.name.endsWith(`)${c.ext}`),
        );
        if (i >= 0) expected.splice(i, 1);
        else diff.conflicts.push(p);
        continue;
      }
      const want = model.files.get(p);
      if (!want) {
        diff.unexpected.push(p);
        continue;
      }
      const got = versionOf(await readFile(join(root, p)));
      if (got.hash !== want.version.hash) {
        const stale = model.everHeld(p, got.hash) ? 'stale' : 'unknown';
        diff.wrong.push(`${p} (${stale} version, ${got.size} bytes; want ${want.version.size})`);
      }
    }
  };
  await walk('');
  for (const p of model.files.keys()) if (!seenFiles.has(p)) diff.lost.push(p);
  for (const d of model.dirs) if (!seenDirs.has(d)) diff.lost.push(`${d}/`);
  for (const c of expected)
    diff.lost.push(`${c.dir === '' ? '' : `${c.dir}/`}${c.stem}${CONFLICT_MARK}…)${c.ext}`);
  return diff;
}

export function diffSize(d: TreeDiff): number {
  return d.lost.length + d.wrong.length + d.conflicts.length + d.unexpected.length;
}
