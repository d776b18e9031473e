// The mount's "someone is using it" signal, one instance per mount, handed to the filesystem (which notes opens,
// reads and lookups) and to the background work that steps aside for them: a FullData pass parses pages of items
// on the event loop, and the server builds them on its own, so a cold open right after mount must not queue behind
// a page. Lookups and listings pause it only at the start of a burst (the lookups before an open): a long walk
// such as `ls -lR` profits from the pass filling folders in bulk.

/** Activity within this long keeps a background step waiting. */
const QUIET_MS = 50;
/** Longest a background step waits for quiet, so a long-running reader never starves the enumeration. */
const MAX_DEFER_MS = 1000;
/** Lookups after this long without any count as the start of a new burst... */
const METADATA_IDLE_GAP_MS = 1000;
/** ...which holds background steps back for at most this long. */
const METADATA_BURST_MS = 200;

export class ForegroundActivity {
  private lastContentMs = -Infinity;
  private lastMetadataMs = -Infinity;
  private metadataBurstStartMs = -Infinity;

  /** Monotonic milliseconds (performance.now by default). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Called for every open and every read of a document being hydrated. */
  noteContent(): void {
    this.lastContentMs = this.now();
  }

  /** Called for every lookup and listing. */
  noteMetadata(): void {
    const now = this.now();
    if (now - this.lastMetadataMs > METADATA_IDLE_GAP_MS) this.metadataBurstStartMs = now;
    this.lastMetadataMs = now;
  }

  /** Resolves once nothing (see above) happened for QUIET_MS, or after MAX_DEFER_MS at most. */
  async quiet(): Promise<void> {
    const start = this.now();
    for (;;) {
      const now = this.now();
      const wait = this.busyFor(now);
      if (wait <= 0 || now - start >= MAX_DEFER_MS) return;
      await new Promise<void>((r) => setTimeout(r, wait + 1));
    }
  }

  /** Lets queued FUSE requests run (one event-loop turn), then waits for quiet as quiet() does. */
  async turn(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    await this.quiet();
  }

  private busyFor(now: number): number {
    const content = QUIET_MS - (now - this.lastContentMs);
    const metadata =
      now - this.metadataBurstStartMs < METADATA_BURST_MS ? QUIET_MS - (now - this.lastMetadataMs) : 0;
    return Math.max(content, metadata, 0);
  }
}
