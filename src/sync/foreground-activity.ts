// Process-wide "someone is using the mount" signal: background enumeration (a FullData pass parses pages of hundreds
// of items on the event loop, and the server builds them on its own) steps aside while files are looked up, opened
// and read, so a cold open right after mount does not queue behind a page.

/** A read within this long counts as activity. */
const QUIET_MS = 50;
/** Longest a background step waits for quiet, so a long-running reader never starves the enumeration. */
const MAX_DEFER_MS = 1000;

let lastActivityMs = -Infinity;

/** Called for every lookup, listing, open and read of a document being hydrated. */
export function noteForegroundActivity(): void {
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
