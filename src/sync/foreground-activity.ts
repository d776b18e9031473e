// Process-wide "a reader is waiting on content" signal: background enumeration (a FullData pass parses pages of
// hundreds of items on the event loop) steps aside while reads stream, so a cold read right after mount runs at speed.

/** A read within this long counts as activity. */
const QUIET_MS = 50;
/** Longest a background step waits for quiet, so a long-running reader never starves the enumeration. */
const MAX_DEFER_MS = 1000;

let lastActivityMs = -Infinity;

/** Called by readers of content (each FUSE read of a document being hydrated). */
export function noteForegroundRead(): void {
  lastActivityMs = performance.now();
}

/** Resolves once no read happened for QUIET_MS, or after MAX_DEFER_MS at most. */
export async function foregroundQuiet(): Promise<void> {
  const start = performance.now();
  for (;;) {
    const now = performance.now();
    const quietFor = now - lastActivityMs;
    if (quietFor >= QUIET_MS || now - start >= MAX_DEFER_MS) return;
    await new Promise<void>((r) => setTimeout(r, QUIET_MS - quietFor + 1));
  }
}
