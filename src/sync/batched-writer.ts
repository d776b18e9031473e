// Coalesces the small chunks a download stream delivers into few large positional writes: at most one write in
// flight, the next batch gathered meanwhile. One awaited write per network chunk was measured at 190 MB/s for a
// 256 MiB file against 520 MB/s for the download alone.

export type PositionalWrite = (data: Uint8Array, offset: number) => Promise<void>;

export class BatchedWriter {
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  /** Offset where the next batch goes. */
  private queuedEnd: number;
  private inflight: Promise<void> | undefined;
  private error: Error | undefined;

  constructor(
    private readonly write: PositionalWrite,
    startOffset: number,
    /** Called after each batch lands with the new end of the written prefix. */
    private readonly onWritten: (end: number) => void,
    private readonly maxBatchBytes: number,
  ) {
    this.queuedEnd = startOffset;
  }

  /** Queues a chunk; waits only when a full batch is already waiting behind the write in flight. */
  async push(chunk: Uint8Array): Promise<void> {
    this.throwIfFailed();
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.inflight === undefined) this.launch();
    else if (this.batchBytes >= this.maxBatchBytes) await this.inflight;
    this.throwIfFailed();
  }

  /** Writes whatever is queued and waits for it. */
  async flush(): Promise<void> {
    this.throwIfFailed();
    while (this.inflight !== undefined || this.batchBytes > 0) {
      if (this.inflight === undefined) this.launch();
      await this.inflight;
      this.throwIfFailed();
    }
  }

  private throwIfFailed(): void {
    if (this.error !== undefined) throw this.error;
  }

  private launch(): void {
    const data = this.batch.length === 1 ? (this.batch[0] as Uint8Array) : Buffer.concat(this.batch);
    const at = this.queuedEnd;
    this.batch = [];
    this.batchBytes = 0;
    this.queuedEnd = at + data.length;
    this.inflight = this.write(data, at).then(
      () => {
        this.onWritten(at + data.length);
        this.inflight = undefined;
        // Whatever arrived meanwhile goes out at once, so readers never wait for the next network chunk.
        if (this.batchBytes > 0 && this.error === undefined) this.launch();
      },
      (err: unknown) => {
        this.error = err instanceof Error ? err : new Error(String(err));
        this.inflight = undefined;
      },
    );
  }
}
