// Content on its way into the library: bytes streamed into a temp file under dataDir/tmp, hashed (QuickXorHash) on the
// way and fsynced, so a write op can rename it into blobs/ before the metadata transaction that makes it visible.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { QuickXorHash } from '../shared/quickxorhash';
import type { Store } from './store';
import { WriteRefusedError } from './write-errors';

/** A fsynced temp file and what it holds. Pass it to a write op (which takes ownership) or discardStaged it. */
export interface StagedContent {
  path: string;
  size: number;
  /** Base64 QuickXorHash of the bytes. */
  hash: string;
}

const HASH_READ_BYTES = 1024 * 1024;

/** A fresh temp path under the store's tmp folder. */
export function tempPath(store: Store): string {
  fs.mkdirSync(store.tmpDir, { recursive: true });
  return path.join(store.tmpDir, `${randomUUID()}.tmp`);
}

/**
 * Streams `source` into a temp file. More than `maxBytes` → WriteRefusedError Failure (413) and nothing kept.
 * Honours backpressure; the file is fsynced before this resolves.
 */
export async function stageStream(
  store: Store,
  source: AsyncIterable<Buffer>,
  maxBytes: number,
): Promise<StagedContent> {
  const file = tempPath(store);
  const fh = await fs.promises.open(file, 'w');
  const h = new QuickXorHash();
  let size = 0;
  try {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > maxBytes) {
        throw new WriteRefusedError('Failure', `content larger than ${maxBytes} bytes`, undefined, 413);
      }
      h.update(chunk);
      await fh.write(chunk);
    }
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fs.promises.rm(file, { force: true });
    throw err;
  }
  await fh.close();
  return { path: file, size, hash: h.digest() };
}

/** Hashes an existing file (a finished BITS session) without copying it. */
export async function hashFile(file: string): Promise<{ size: number; hash: string }> {
  const h = new QuickXorHash();
  let size = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: HASH_READ_BYTES })) {
    const b = chunk as Buffer;
    h.update(b);
    size += b.length;
  }
  return { size, hash: h.digest() };
}

/** Refuses content whose size or hash differs from what the client declared (DataSize, XORHash). */
export function verifyDeclared(
  staged: { size: number; hash: string },
  declared: { size?: number; hash?: string },
): void {
  if (declared.size !== undefined && declared.size !== staged.size) {
    throw new WriteRefusedError('Failure', `DataSize ${declared.size} but ${staged.size} bytes received`);
  }
  if (declared.hash !== undefined && declared.hash.trim() !== staged.hash) {
    throw new WriteRefusedError('Failure', 'XORHash does not match the bytes received');
  }
}

export function discardStaged(s: StagedContent | undefined): void {
  if (s) fs.rmSync(s.path, { force: true });
}
