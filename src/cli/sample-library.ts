// Generates the demo's sample library: nested folders, text and binary files, names with spaces and non-ASCII
// characters, and one large file produced on the fly. Deterministic for a given seed, so tests can compare bytes.
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';

const CHUNK_BYTES = 1024 * 1024;

/** Deterministic pseudo-random bytes: SHA-256 in counter mode over a seed (fast enough, no dependency). */
export function pseudoRandomChunk(seed: string, index: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let off = 0, n = 0; off < size; off += 32, n++) {
    createHash('sha256')
      .update(`${seed}:${index}:${n}`)
      .digest()
      .copy(out, off, 0, Math.min(32, size - off));
  }
  return out;
}

export async function writePseudoRandomFile(path: string, bytes: number, seed: string): Promise<void> {
  const out = createWriteStream(path, { highWaterMark: CHUNK_BYTES });
  // One random MiB, varied per chunk by its index in the first 8 bytes: fast for hundreds of MiB, and no two
  // chunks are equal, so a misplaced range can't pass a comparison.
  const block = pseudoRandomChunk(seed, 0, CHUNK_BYTES);
  for (let off = 0, i = 0; off < bytes; off += CHUNK_BYTES, i++) {
    const chunk = Buffer.from(block.subarray(0, Math.min(CHUNK_BYTES, bytes - off)));
    chunk.writeUInt32LE(i, 0);
    if (chunk.length >= 8) chunk.writeUInt32LE(i ^ 0x5a5a5a5a, 4);
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

export interface SampleLibraryOptions {
  /** Size of the large file, MiB (0 to skip it). */
  bigMib: number;
}

export async function createSampleLibrary(root: string, o: SampleLibraryOptions): Promise<string[]> {
  const files: Record<string, string | Buffer> = {
    'README.txt': 'This is a sample SharePoint document library served by `spfs serve`.\n',
    'Documents/Quarterly report.txt': 'Revenue went up.\n'.repeat(200),
    'Documents/Meeting notes 2026-11-26.md': '# Notes\n\n- ship spfs\n- measure everything\n',
    'Documents/Projects/Alpha/plan.txt': 'Phase 1: crawl. Phase 2: hydrate. Phase 3: upload.\n',
    'Documents/Projects/Alpha/data.csv':
      Array.from({ length: 500 }, (_, i) => `${i},${i * i},${(i * 7) % 13}`).join('\n') + '\n',
    'Documents/Projects/Beta/empty.txt': '',
    'Documents/Projects/Beta/Zürich Straße Übersicht.txt': 'Grüße aus Zürich — ünïcödé names work.\n',
    'Pictures/image 1.bin': pseudoRandomChunk('image1', 0, 200 * 1024),
    'Pictures/日本語のファイル.bin': pseudoRandomChunk('jp', 0, 64 * 1024),
    'Shared Folder/Nested Level 1/Nested Level 2/deep file.txt': 'deep\n',
    'Binaries/medium.bin': pseudoRandomChunk('medium', 0, 3 * 1024 * 1024 + 17),
  };
  const written: string[] = [];
  for (const [rel, content] of Object.entries(files)) {
    const full = join(root, rel);
    mkdirSync(join(full, '..'), { recursive: true });
    writeFileSync(full, content);
    written.push(rel);
  }
  mkdirSync(join(root, 'Empty Folder'), { recursive: true });
  if (o.bigMib > 0) {
    const rel = `Binaries/large-${o.bigMib}MiB.bin`;
    await writePseudoRandomFile(join(root, rel), o.bigMib * 1024 * 1024, 'large');
    written.push(rel);
  }
  return written;
}
