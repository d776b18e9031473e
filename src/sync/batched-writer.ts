// Coalesces the small chunks a download stream delivers into few large positional writes: at most one write in
// flight, the next batch gathered meanwhile. One awaited write per network chunk was measured at 190 MB/s for a
// 256 MiB file against 520 MB/s for the download alone. A batch goes out as the chunks themselves (writev), not
// copied into one buffer: the copies and their fresh 4 MiB allocations were 8% of a cold read's CPU.

/** Writes `chunks`, in order, contiguously from `offset`. */
export type PositionalWrite = (chunks: readonly Uint8Array[], offset: number) => Promise<void>;

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
    /** Called after each batch lands, with the batch and where it went. */
    private readonly onWritten: (chunks: readonly Uint8Array[], offset: number) => void,
    private readonly maxBatchBytes: number,
  ) {
    this.queuedEnd = startOffset;
  }

  /** Queues chunks; waits only when a full batch is already waiting behind the write in flight. */
  async push(...chunks: Uint8Array[]): Promise<void> {
    this.throwIfFailed();
    for (const c of chunks) {
      this.batch.push(c);
      this.batchBytes += c.length;
    }
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
    const chunks = this.batch;
    const at = this.queuedEnd;
    const end = at + this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.queuedEnd = end;
    this.inflight = this.write(chunks, at).then(
      () => {
        this.onWritten(chunks, at);
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
