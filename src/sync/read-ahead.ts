// Per-handle read-ahead: the window doubles while reads follow each other (1 MiB up to 64 MiB by default) and
// falls back to the minimum on a jump, so `head` and random reads fetch little and `cat` fetches big windows.

export interface ReadAheadOptions {
  minBytes: number;
  maxBytes: number;
  /** How far a read may start from where the previous one ended and still count as sequential. */
  slackBytes: number;
}

const MIB = 1024 * 1024;
export const DEFAULT_READ_AHEAD: ReadAheadOptions = {
  minBytes: 1 * MIB,
  maxBytes: 64 * MIB,
  // The kernel issues a few reads ahead concurrently; they may land slightly out of order.
  slackBytes: 1 * MIB,
};

export class ReadAhead {
  private windowBytes: number;
  private lastEnd: number | undefined;

  constructor(private readonly o: ReadAheadOptions = DEFAULT_READ_AHEAD) {
    this.windowBytes = o.minBytes;
  }

  /** Records a read of [position, position + length) and returns how many bytes to fetch beyond its end. */
  next(position: number, length: number): number {
    const sequential =
      this.lastEnd === undefined
        ? position === 0
        : position >= this.lastEnd - this.o.slackBytes && position <= this.lastEnd + this.o.slackBytes;
    if (sequential && this.lastEnd !== undefined) {
      this.windowBytes = Math.min(this.o.maxBytes, this.windowBytes * 2);
    } else if (!sequential) {
      this.windowBytes = this.o.minBytes;
    }
    this.lastEnd = Math.max(position + length, sequential ? (this.lastEnd ?? 0) : 0);
    return this.windowBytes;
  }

  get currentBytes(): number {
    return this.windowBytes;
  }
}
