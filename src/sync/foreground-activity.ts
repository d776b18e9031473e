// Process-wide "someone is using the mount" signal: background enumeration (a FullData pass parses pages of items on
// the event loop, and the server builds them on its own) steps aside while files are opened and read, so a cold
// open right after mount does not queue behind a page. Lookups and listings pause it only at the start of a burst
// (the lookups before an open): a long walk such as `ls -lR` profits from the pass filling folders in bulk.

/** Activity within this long keeps a background step waiting. */
const QUIET_MS = 50;
/** Longest a background step waits for quiet, so a long-running reader never starves the enumeration. */
const MAX_DEFER_MS = 1000;
/** Lookups after this long without any count as the start of a new burst... */
const METADATA_IDLE_GAP_MS = 1000;
/** ...which holds background steps back for at most this long. */
const METADATA_BURST_MS = 200;

let lastContentMs = -Infinity;
let lastMetadataMs = -Infinity;
let metadataBurstStartMs = -Infinity;

/** Called for every open and every read of a document being hydrated. */
export function noteForegroundActivity(): void {
  lastContentMs = performance.now();
}

/** Called for every lookup and listing. */
export function noteMetadataActivity(): void {
  const now = performance.now();
  if (now - lastMetadataMs > METADATA_IDLE_GAP_MS) metadataBurstStartMs = now;
  lastMetadataMs = now;
}

function busyFor(now: number): number {
  const content = QUIET_MS - (now - lastContentMs);
  const metadata = now - metadataBurstStartMs < METADATA_BURST_MS ? QUIET_MS - (now - lastMetadataMs) : 0;
  return Math.max(content, metadata, 0);
}

/** Resolves once nothing (see above) happened for QUIET_MS, or after MAX_DEFER_MS at most. */
export async function foregroundQuiet(): Promise<void> {
  const start = performance.now();
  for (;;) {
    const now = performance.now();
    const wait = busyFor(now);
    if (wait <= 0 || now - start >= MAX_DEFER_MS) return;
    await new Promise<void>((r) => setTimeout(r, wait + 1));
  }
}

/** Lets queued FUSE requests run (one event-loop turn), then waits for quiet as foregroundQuiet() does. */
export async function foregroundTurn(): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
  await foregroundQuiet();
}
