// Fault injection of the reference server (product code: tests and demos use it to reproduce slow or broken
// servers for real). This slice: a download rate limit, so "first bytes before the whole file" can be observed.
import { Transform } from 'node:stream';

export interface ServerFaults {
  /** Cap on the bytes per second of each download response. */
  downloadBytesPerSecond?: number;
}

const TICK_MS = 50;

/** A pass-through that delays chunks so the stream averages at most `bytesPerSecond`. */
export function rateLimiter(bytesPerSecond: number): Transform {
  const started = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const pieces: Buffer[] = [];
      const slice = Math.max(1, Math.floor((bytesPerSecond * TICK_MS) / 1000));
      for (let off = 0; off < chunk.length; off += slice) pieces.push(chunk.subarray(off, off + slice));
      const push = (): void => {
        const piece = pieces.shift();
        if (piece === undefined) return cb();
        const due = started + (sent / bytesPerSecond) * 1000;
        setTimeout(
          () => {
            sent += piece.length;
            this.push(piece);
            push();
          },
          Math.max(0, due - Date.now()),
        );
      };
      push();
    },
  });
}
