// One download in progress into the content cache: a temp file written at arbitrary offsets, the set of ranges
// already present, and an atomic finish (fsync, rename, index row) or an abort (unlink).
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { ETag, ItemId } from '../shared/ids';
import { ByteRanges } from './byte-ranges';
import { FillStateError } from './errors';

/** What the cache does when a fill ends; supplied by ContentCache so the fill never touches the index itself. */
export interface FillOwner {
  finishCommit(fill: CacheFill): Promise<string>;
  finishAbort(fill: CacheFill): void;
}

export type FillState = 'filling' | 'committed' | 'aborted';

export class CacheFill {
  private readonly ranges = new ByteRanges();
  private readonly listeners = new Set<() => void>();
  private fillState: FillState = 'filling';

  constructor(
    readonly id: ItemId,
    readonly etag: ETag,
    readonly size: number,
    /** Absolute path of the temp file (readable by others while the fill runs). */
    readonly tempPath: string,
    /** Base name the file gets once committed. */
    readonly finalName: string,
    private readonly fh: FileHandle,
    private readonly owner: FillOwner,
  ) {}

  get state(): FillState {
    return this.fillState;
  }

  /** Writes `chunk` at `offset` (all of it), then tells subscribers. */
  async write(chunk: Uint8Array, offset: number): Promise<void> {
    if (this.fillState !== 'filling') throw new FillStateError('write', this.fillState);
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, done, chunk.length - done, offset + done);
      done += bytesWritten;
    }
    this.ranges.add(offset, offset + chunk.length);
    for (const l of this.listeners) l();
  }

  /** Bytes [0, n) are all present. */
  get contiguousBytes(): number {
    return this.ranges.contiguousFromZero();
  }

  /** First byte of [start, end) not yet written, or undefined when the range is complete. */
  firstMissing(start: number, end: number): number | undefined {
    return this.ranges.firstMissing(start, end);
  }

  /** Calls `listener` after every write; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** fsync, close, rename into place, then record the verified entry. Returns the final path. */
  async commit(): Promise<string> {
    if (this.fillState !== 'filling') throw new FillStateError('commit', this.fillState);
    this.fillState = 'committed';
    try {
      await this.fh.sync();
      await this.fh.close();
      return await this.owner.finishCommit(this);
    } catch (err) {
      this.fillState = 'aborted';
      await this.fh.close().catch(() => undefined);
      await fsp.unlink(this.tempPath).catch(() => undefined);
      this.owner.finishAbort(this);
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.fillState !== 'filling') return;
    this.fillState = 'aborted';
    await this.fh.close().catch(() => undefined);
    await fsp.unlink(this.tempPath).catch(() => undefined);
    this.owner.finishAbort(this);
  }
}
