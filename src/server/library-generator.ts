// Synthetic libraries (`spfs serve --generate FOLDERS,FILES,SIZE[,SEED]`): a folder tree and files whose names, sizes
// and bytes derive from (seed, index) only, written straight into a new library's blobs and rows in batches.
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError } from '../shared/errors';
import { QuickXorHash } from '../shared/quickxorhash';
import { parseSizeText } from './size-text';
import type { Store, NewItem } from './store';
import { fsyncPath } from '../shared/fsync-path';

export interface GenerateSpec {
  /** Folders in the tree (0 = files at the root). */
  folders: number;
  /** Files, spread round-robin over the folders. */
  files: number;
  /** Each file's size is drawn (deterministically) from [minBytes, maxBytes]; equal = fixed size. */
  minBytes: number;
  maxBytes: number;
  /** Same seed and shape → same names, sizes and bytes (ids and times differ). Default 1. */
  seed: number;
}

/** Folder k (1-based, breadth-first) has parent floor((k-1)/FANOUT) (0 = the root): 10, 100, 1000… per level. */
export const GENERATE_FOLDER_FANOUT = 10;
const ROWS_PER_TRANSACTION = 2000;
const WRITE_CHUNK_BYTES = 1024 * 1024;
const MAX_ITEMS = 10_000_000;
function count(text: string, what: string, whole: string): number {
  const n = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || n > MAX_ITEMS)
    throw new InvalidInputError(`--generate ${whole}: ${what} must be a whole number up to ${MAX_ITEMS}`);
  return n;
}

/** Parses `FOLDERS,FILES,SIZE[,SEED]`; SIZE is bytes with an optional K/M/G suffix (powers of 1024) or `MIN-MAX`. */
export function parseGenerateSpec(text: string): GenerateSpec {
  const parts = text.split(',');
  if (parts.length < 3 || parts.length > 4)
    throw new InvalidInputError(`--generate ${text}: expected FOLDERS,FILES,SIZE[,SEED], e.g. 200,10000,4K`);
  const [lo, hi = lo] = (parts[2] ?? '').split('-') as [string, string?];
  const spec: GenerateSpec = {
    folders: count(parts[0] ?? '', 'FOLDERS', text),
    files: count(parts[1] ?? '', 'FILES', text),
    minBytes: parseSizeText(lo, `--generate ${text}`),
    maxBytes: parseSizeText(hi, `--generate ${text}`),
    seed: parts[3] !== undefined ? count(parts[3], 'SEED', text) : 1,
  };
  if (spec.maxBytes < spec.minBytes)
    throw new InvalidInputError(`--generate ${text}: size range MIN-MAX is reversed`);
  return spec;
}

/** Relative path of generated folder k (1-based) and file j (0-based) — handy for tests and benchmarks. */
export function generatedNames(spec: GenerateSpec): { folder(k: number): string; file(j: number): string } {
  const fw = Math.max(4, String(spec.folders).length);
  const jw = Math.max(6, String(spec.files).length);
  const folderName = (k: number): string => `folder-${String(k).padStart(fw, '0')}`;
  const folder = (k: number): string => {
    const parts: string[] = [];
    for (let cur = k; cur > 0; cur = Math.floor((cur - 1) / GENERATE_FOLDER_FANOUT))
      parts.unshift(folderName(cur));
    return parts.join('/');
  };
  return {
    folder,
    file: (j) => {
      const name = `file-${String(j).padStart(jw, '0')}.bin`;
      return spec.folders === 0 ? name : `${folder((j % spec.folders) + 1)}/${name}`;
    },
  };
}

/** The keystream of file j: AES-256-CTR keyed by sha256(seed, j); its first 4 key bytes also pick the size. */
function fileSource(spec: GenerateSpec, j: number): { bytes: number; next: (n: number) => Buffer } {
  const key = createHash('sha256').update(`spfs-generate:${spec.seed}:${j}`).digest();
  const span = spec.maxBytes - spec.minBytes + 1;
  const bytes = spec.minBytes + (span > 1 ? Math.floor((key.readUInt32BE(0) / 2 ** 32) * span) : 0);
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return { bytes, next: (n) => cipher.update(Buffer.alloc(n)) };
}

/** The bytes of generated file j (for tests: what a download must return). */
export function generatedContent(spec: GenerateSpec, j: number): Buffer {
  const src = fileSource(spec, j);
  return src.next(src.bytes);
}

/** Writes file j's blob (made durable later by syncBlobs) and returns its size and QuickXorHash. */
function writeBlob(file: string, spec: GenerateSpec, j: number): { size: number; hash: string } {
  const src = fileSource(spec, j);
  const h = new QuickXorHash();
  const fd = fs.openSync(file, 'w');
  try {
    for (let left = src.bytes; left > 0; left -= WRITE_CHUNK_BYTES) {
      const chunk = src.next(Math.min(WRITE_CHUNK_BYTES, left));
      h.update(chunk);
      fs.writeSync(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { size: src.bytes, hash: h.digest() };
}

/**
 * Makes every blob and the folder durable before the library becomes visible. One fsync per file costs ~2 ms on
 * ext4 (100,000 files: minutes), so this asks for one syncfs(2) of the file system (`sync -f`, coreutils) and
 * falls back to fsyncing each file where that is not available.
 */
export function syncBlobs(dir: string): void {
  try {
    execFileSync('sync', ['-f', dir], { stdio: 'ignore' });
    return;
  } catch {
    for (const f of fs.readdirSync(dir)) fsyncPath(path.join(dir, f));
    fsyncPath(dir);
  }
}

export interface GenerateOptions {
  store: Store;
  rootId: string;
  nowMs: number;
  newId: () => string;
  spec: GenerateSpec;
}

/**
 * Inserts the generated items below `rootId` (already inserted), ROWS_PER_TRANSACTION rows per transaction, and
 * makes every blob durable before returning. The library stays invisible until the caller writes its meta, so an
 * interrupted generation is wiped and redone on the next start. Returns the number of items.
 */
export function generateItems(opts: GenerateOptions): number {
  const { store, spec, nowMs } = opts;
  const names = generatedNames(spec);
  const folderIds: string[] = [opts.rootId];
  let batch: NewItem[] = [];
  const flush = (): void => {
    store.insertRows(batch, nowMs);
    batch = [];
  };
  const add = (it: NewItem): void => {
    batch.push(it);
    if (batch.length >= ROWS_PER_TRANSACTION) flush();
  };
  const base = { createdMs: nowMs, modifiedMs: nowMs };
  for (let k = 1; k <= spec.folders; k++) {
    const id = opts.newId();
    folderIds.push(id);
    const parentId = folderIds[Math.floor((k - 1) / GENERATE_FOLDER_FANOUT)] as string;
    const name = path.posix.basename(names.folder(k));
    add({ ...base, id, parentId, name, kind: 'folder', size: 0, hash: null, mime: null, blob: null });
  }
  fs.mkdirSync(store.blobDir, { recursive: true });
  for (let j = 0; j < spec.files; j++) {
    const id = opts.newId();
    const blob = `${id}.1`;
    const { size: bytes, hash } = writeBlob(path.join(store.blobDir, blob), spec, j);
    const parentId = folderIds[spec.folders === 0 ? 0 : (j % spec.folders) + 1] as string;
    const name = path.posix.basename(names.file(j));
    const mime = 'application/octet-stream';
    add({ ...base, id, parentId, name, kind: 'document', size: bytes, hash, mime, blob });
  }
  if (batch.length > 0) flush();
  syncBlobs(store.blobDir);
  return spec.folders + spec.files;
}
