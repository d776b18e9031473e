// Reproducible benchmark data: every byte and every size derives from (seed, path), so two runs with the same seed
// build identical trees. Big content is an AES-256-CTR keystream (incompressible, ~1 GB/s to generate).
import { createCipheriv, createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface DatasetSpec {
  /** Sizes of the two big files, MiB (256 and 1024 in a full run). */
  bigMib: readonly [number, number];
  /** Number of 1 MiB files in mid/. */
  midCount: number;
  /** tree/: files spread evenly over topFolders × leafFolders leaf folders, 1–4 KiB each. */
  treeFiles: number;
  treeTopFolders: number;
  treeLeafFolders: number;
}

export interface LibrarySpec {
  folders: number;
  filesPerFolder: number;
  fileBytes: number;
}

const CHUNK_BYTES = 4 * 1024 * 1024;
const MIB = 1024 * 1024;

/** mulberry32: a tiny deterministic PRNG returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic bytes for (seed, name): AES-256-CTR keystream keyed by sha256(seed:name). */
export function contentStream(seed: number, name: string): (n: number) => Buffer {
  const key = createHash('sha256').update(`${seed}:${name}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}

function writeDeterministic(path: string, seed: number, name: string, bytes: number): void {
  const next = contentStream(seed, name);
  const fd = openSync(path, 'w');
  try {
    for (let left = bytes; left > 0; left -= CHUNK_BYTES) writeSync(fd, next(Math.min(CHUNK_BYTES, left)));
  } finally {
    closeSync(fd);
  }
}

export const bigName = (mib: number): string => `big-${mib}MiB.bin`;
export const midName = (i: number): string => `m${String(i).padStart(3, '0')}.bin`;

/** Relative paths (under tree/) and sizes of the tree files, in creation order. */
export function treeLayout(spec: DatasetSpec, seed: number): Array<{ path: string; bytes: number }> {
  const rnd = prng(seed ^ 0x7ee);
  const leaves = spec.treeTopFolders * spec.treeLeafFolders;
  const out: Array<{ path: string; bytes: number }> = [];
  for (let i = 0; i < spec.treeFiles; i++) {
    const leaf = i % leaves;
    const top = Math.floor(leaf / spec.treeLeafFolders);
    const dir = `d${String(top).padStart(2, '0')}/e${String(leaf % spec.treeLeafFolders).padStart(2, '0')}`;
    out.push({ path: `${dir}/f${String(i).padStart(5, '0')}.txt`, bytes: 1024 + Math.floor(rnd() * 3073) });
  }
  return out;
}

/** Writes big files, mid/ and tree/ into dir unless `<dir>.manifest.json` names the same (spec, seed). */
export function generateDataset(dir: string, spec: DatasetSpec, seed: number): { reused: boolean } {
  const id = JSON.stringify({ spec, seed, v: 1 });
  const manifest = `${dir}.manifest.json`;
  if (existsSync(manifest) && readFileSync(manifest, 'utf8') === id) return { reused: true };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'mid'), { recursive: true });
  for (const mib of spec.bigMib) writeDeterministic(join(dir, bigName(mib)), seed, bigName(mib), mib * MIB);
  for (let i = 0; i < spec.midCount; i++)
    writeDeterministic(join(dir, 'mid', midName(i)), seed, midName(i), MIB);
  for (const f of treeLayout(spec, seed)) {
    const full = join(dir, 'tree', f.path);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, contentStream(seed, f.path)(f.bytes));
  }
  writeFileSync(manifest, id);
  return { reused: false };
}

/** A wide library for mount readiness: folders × filesPerFolder small files (items = folders × (1 + files)). */
export function generateLibrary(
  dir: string,
  spec: LibrarySpec,
  seed: number,
): { reused: boolean; items: number } {
  const items = spec.folders * (1 + spec.filesPerFolder);
  const id = JSON.stringify({ spec, seed, v: 1 });
  const manifest = `${dir}.manifest.json`;
  if (existsSync(manifest) && readFileSync(manifest, 'utf8') === id) return { reused: true, items };
  rmSync(dir, { recursive: true, force: true });
  for (let d = 0; d < spec.folders; d++) {
    const folder = join(dir, `folder${String(d).padStart(4, '0')}`);
    mkdirSync(folder, { recursive: true });
    for (let f = 0; f < spec.filesPerFolder; f++) {
      const name = `file${String(f).padStart(4, '0')}.txt`;
      writeFileSync(join(folder, name), contentStream(seed, `${d}/${name}`)(spec.fileBytes));
    }
  }
  writeFileSync(manifest, id);
  return { reused: false, items };
}
