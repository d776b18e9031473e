// Wire formats of time: SharePoint's 7-fractional-digit UTC timestamps and .NET ticks inside sync tokens.

/** .NET ticks (100 ns since 0001-01-01 UTC) at the Unix epoch. */
const TICKS_AT_UNIX_EPOCH = 621355968000000000n;
const TICKS_PER_MS = 10000n;

/** `yyyy-MM-ddTHH:mm:ss.fffffffZ` (digest §3). */
export function wireTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

export function msToTicks(ms: number): string {
  return (BigInt(Math.trunc(ms)) * TICKS_PER_MS + TICKS_AT_UNIX_EPOCH).toString();
}

/** SharePoint keeps whole seconds; so do we, so a value survives a round trip through any client. */
export function wholeSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
