// One cached version as a sparse file at its final name: positional writes, an in-memory map of the bytes written,
// and `persist()` which fsyncs and only then records those ranges (and the allocated size) in the index.
import * as fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { ETag, ItemId } from '../shared/ids';
import { ByteRanges } from './byte-ranges';
import type { CacheIndex } from './cache-index';
import { FillStateError } from './errors';

export class SparseFile {
  /** Bytes present in the file (durable or written this session): what reads may use. */
  readonly present: ByteRanges;
  /** Written since the last persist(): not yet in the index. */
  private readonly pending = new ByteRanges();
  private persisting: Promise<void> = Promise.resolve();
  private closed = false;
  private verifiedFlag: boolean;

  constructor(
    readonly id: ItemId,
    readonly etag: ETag,
    readonly size: number,
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly index: CacheIndex,
    durable: ByteRanges,
    verified: boolean,
    private readonly onClose: () => void,
  ) {
    this.present = durable;
    this.verifiedFlag = verified;
  }

  get fd(): number {
    return this.fh.fd;
  }

  get verified(): boolean {
    return this.verifiedFlag;
  }

  get complete(): boolean {
    return this.present.covers(0, this.size);
  }

  /** Writes `chunks` back to back from `offset` (one writev); readable at once, recorded at the next persist(). */
  async write(chunks: readonly Uint8Array[], offset: number): Promise<void> {
    if (this.closed) throw new FillStateError('write', 'closed');
    let left = chunks;
    let at = offset;
    while (left.length > 0) {
      const { bytesWritten } = await this.fh.writev(left, at);
      at += bytesWritten;
      left = afterBytes(left, bytesWritten);
    }
    this.present.add(offset, at);
    this.pending.add(offset, at);
  }

  /**
   * Records bytes another thread wrote to `fd` (the download worker): readable at once, recorded at the next
   * persist(). False when the file is closed (the bytes are then not trusted).
   */
  noteWritten(start: number, end: number): boolean {
    if (this.closed) return false;
    this.present.add(start, end);
    this.pending.add(start, end);
    return true;
  }

  /** Synchronous pread of bytes known to be present. */
  readSync(buffer: Buffer, length: number, position: number): number {
    return fs.readSync(this.fh.fd, buffer, 0, length, position);
  }

  /** fdatasync, then records every range written so far: a crash never leaves a recorded range unwritten. */
  persist(): Promise<void> {
    const run = this.persisting.then(async () => {
      if (this.closed) return;
      const spans = this.pending.list();
      if (spans.length === 0) return;
      this.pending.clear();
      await this.fh.datasync();
      const allocated = (await this.fh.stat()).blocks * 512;
      for (const [s, e] of spans) this.index.addRange(this.id, this.etag, s, e, allocated);
    });
    this.persisting = run.catch(() => undefined);
    return run;
  }

  /** Marks the version verified (call after persist() recorded every byte). */
  markVerified(): void {
    this.verifiedFlag = true;
    this.index.markVerified(this.id, this.etag);
  }

  /** Forgets every byte (bad content): ranges dropped, file emptied back to a hole of `size`. */
  async drop(): Promise<void> {
    await this.persisting;
    this.present.clear();
    this.pending.clear();
    this.verifiedFlag = false;
    await this.fh.truncate(0);
    await this.fh.truncate(this.size);
    this.index.clearRanges(this.id, this.etag, (await this.fh.stat()).blocks * 512);
  }

  /** Persists what was written, closes the descriptor and lets the cache evict this version again. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.persist().catch(() => undefined);
    this.closed = true;
    await this.fh.close().catch(() => undefined);
    this.onClose();
  }
}

/** What remains of `chunks` once their first `n` bytes are written (a short writev). */
function afterBytes(chunks: readonly Uint8Array[], n: number): readonly Uint8Array[] {
  let skip = n;
  let i = 0;
  while (i < chunks.length && skip >= (chunks[i] as Uint8Array).length)
    skip -= (chunks[i++] as Uint8Array).length;
  if (i >= chunks.length) return [];
  const rest = chunks.slice(i);
  if (skip > 0) rest[0] = (rest[0] as Uint8Array).subarray(skip);
  return rest;
}
