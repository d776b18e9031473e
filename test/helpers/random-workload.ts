// A seeded random workload of local file-system operations, applied to a real folder (a mountpoint) and to a
// TreeModel at once. Every operation is valid by the model, so any error it gets is an operation refused on state
// that should exist. Every operation returns (the file is closed) before the next starts.
import { appendFile, mkdir, open, rename, rmdir, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TreeModel } from './tree-model';

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

export interface OpRecord {
  op: string;
  /** Which mount of the loop ran it (bumped by the caller at each restart). */
  cycle: number;
  error?: string;
}

export const LARGE_FILE = 'big.bin';

/** Bytes that name their path and version, so a reader can tell which one it got. */
function content(rng: Rng, tag: string, size: number): Buffer {
  const head = Buffer.from(`${tag}\n`);
  const body = Buffer.alloc(Math.max(0, size - head.length));
  for (let i = 0; i < body.length; i++) body[i] = 32 + Math.floor(rng.next() * 95);
  return Buffer.concat([head, body]).subarray(0, Math.max(size, head.length));
}

/** Large content: one random 64 KiB block repeated, with the version tag first (cheap to make, unique per tag). */
function largeContent(rng: Rng, tag: string, size: number): Buffer {
  const block = content(rng, tag, 64 * 1024);
  const out = Buffer.alloc(size);
  for (let off = 0; off < size; off += block.length) block.copy(out, off);
  return out;
}

export class RandomWorkload {
  private counter = 0;
  cycle = 0;
  readonly log: OpRecord[] = [];

  constructor(
    private readonly rng: Rng,
    private readonly model: TreeModel,
    private readonly root: () => string,
  ) {}

  private abs(rel: string): string {
    return join(this.root(), rel);
  }

  private fresh(prefix: string): string {
    return `${prefix}${++this.counter}`;
  }

  private randomDir(): string {
    return this.rng.pick(['', ...this.model.dirs]);
  }

  private randomFile(): string | undefined {
    const small = [...this.model.files.keys()].filter((p) => p !== LARGE_FILE);
    return small.length === 0 ? undefined : this.rng.pick(small);
  }

  private join(dir: string, name: string): string {
    return dir === '' ? name : `${dir}/${name}`;
  }

  /** Runs `n` random operations; returns how many failed. */
  async run(n: number): Promise<number> {
    let failed = 0;
    for (let i = 0; i < n; i++) if (!(await this.step())) failed++;
    return failed;
  }

  /** Creates or rewrites the large file (a BITS upload on the server). */
  async writeLarge(size: number): Promise<boolean> {
    const bytes = largeContent(this.rng, `${LARGE_FILE} v${++this.counter}`, size);
    return this.attempt(`write ${LARGE_FILE} (${size} bytes)`, async () => {
      await writeFile(this.abs(LARGE_FILE), bytes);
      this.model.setFile(LARGE_FILE, bytes, false);
    });
  }

  private async attempt(op: string, fn: () => Promise<void>): Promise<boolean> {
    try {
      await fn();
      this.log.push({ op, cycle: this.cycle });
      return true;
    } catch (err) {
      this.log.push({ op, cycle: this.cycle, error: (err as NodeJS.ErrnoException).code ?? String(err) });
      return false;
    }
  }

  private async step(): Promise<boolean> {
    const r = this.rng.next();
    const file = this.randomFile();
    if (r < 0.22 || file === undefined) {
      const path = this.join(this.randomDir(), `${this.fresh('f')}.txt`);
      const bytes = content(this.rng, `${path} v${this.counter}`, this.rng.int(0, 48 * 1024));
      return this.attempt(`create ${path}`, async () => {
        await writeFile(this.abs(path), bytes);
        this.model.setFile(path, bytes);
      });
    }
    if (r < 0.4) {
      const bytes = content(this.rng, `${file} v${++this.counter}`, this.rng.int(0, 48 * 1024));
      return this.attempt(`overwrite ${file}`, async () => {
        await writeFile(this.abs(file), bytes);
        this.model.setFile(file, bytes);
      });
    }
    if (r < 0.48) {
      const extra = content(this.rng, `append ${++this.counter}`, this.rng.int(1, 8 * 1024));
      const old = this.model.bytesOf(file) ?? Buffer.alloc(0);
      return this.attempt(`append ${file}`, async () => {
        await appendFile(this.abs(file), extra);
        this.model.setFile(file, Buffer.concat([old, extra]));
      });
    }
    if (r < 0.54) {
      const old = this.model.bytesOf(file) ?? Buffer.alloc(0);
      const at = this.rng.int(0, old.length);
      const patch = content(this.rng, `patch ${++this.counter}`, this.rng.int(1, 4 * 1024));
      return this.attempt(`write at ${at} of ${file}`, async () => {
        const fh = await open(this.abs(file), 'r+');
        try {
          await fh.write(patch, 0, patch.length, at);
        } finally {
          await fh.close();
        }
        const next = Buffer.alloc(Math.max(old.length, at + patch.length));
        old.copy(next);
        patch.copy(next, at);
        this.model.setFile(file, next);
      });
    }
    if (r < 0.58) {
      const old = this.model.bytesOf(file) ?? Buffer.alloc(0);
      const len = this.rng.int(0, old.length);
      return this.attempt(`truncate ${file} to ${len}`, async () => {
        await truncate(this.abs(file), len);
        this.model.setFile(file, old.subarray(0, len));
      });
    }
    if (r < 0.7) {
      // Into another folder, within its own, or over an existing file (an editor's save).
      const others = [...this.model.files.keys()].filter((p) => p !== file && p !== LARGE_FILE);
      const to =
        this.rng.chance(0.3) && others.length > 0
          ? this.rng.pick(others)
          : this.join(this.randomDir(), `${this.fresh('f')}.txt`);
      return this.attempt(`rename ${file} → ${to}`, async () => {
        await rename(this.abs(file), this.abs(to));
        this.model.files.delete(to);
        this.model.rename(file, to);
      });
    }
    if (r < 0.8) {
      return this.attempt(`unlink ${file}`, async () => {
        await unlink(this.abs(file));
        this.model.files.delete(file);
      });
    }
    if (r < 0.88 || this.model.dirs.size === 0) {
      const dir = this.join(this.model.dirs.size < 6 ? this.randomDir() : '', this.fresh('d'));
      return this.attempt(`mkdir ${dir}`, async () => {
        await mkdir(this.abs(dir));
        this.model.dirs.add(dir);
      });
    }
    const dir = this.rng.pick([...this.model.dirs]);
    const empty = this.model.filesUnder(dir).length === 0 && this.model.dirsUnder(dir).length === 0;
    if (empty && this.rng.chance(0.5)) {
      return this.attempt(`rmdir ${dir}`, async () => {
        await rmdir(this.abs(dir));
        this.model.dirs.delete(dir);
      });
    }
    // A folder rename, possibly into another folder (never into itself).
    const targets = ['', ...this.model.dirs].filter((d) => d !== dir && !d.startsWith(`${dir}/`));
    const to = this.join(this.rng.pick(targets), this.fresh('d'));
    return this.attempt(`rename folder ${dir} → ${to}`, async () => {
      await rename(this.abs(dir), this.abs(to));
      this.model.rename(dir, to);
    });
  }
}
