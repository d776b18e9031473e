// A set of half-open byte ranges [start, end) that merges on insert: which parts of a cached file are present
// (or being fetched). Pure and synchronous; persisted by CacheIndex as one row per span.

export type Span = readonly [start: number, end: number];

export class ByteRanges {
  /** Sorted, non-overlapping, non-adjacent. */
  private spans: Array<[number, number]> = [];

  constructor(initial: Iterable<Span> = []) {
    for (const [s, e] of initial) this.add(s, e);
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const spans = this.spans;
    let i = 0;
    while (i < spans.length && (spans[i] as [number, number])[1] < start) i++;
    let s = start;
    let e = end;
    let j = i;
    while (j < spans.length && (spans[j] as [number, number])[0] <= e) {
      const span = spans[j] as [number, number];
      s = Math.min(s, span[0]);
      e = Math.max(e, span[1]);
      j++;
    }
    spans.splice(i, j - i, [s, e]);
  }

  clear(): void {
    this.spans = [];
  }

  /** The first offset in [start, end) not covered, or undefined when all of it is. */
  firstMissing(start: number, end: number): number | undefined {
    let pos = start;
    for (const [s, e] of this.spans) {
      if (e <= pos) continue;
      if (s > pos) break;
      pos = e;
      if (pos >= end) return undefined;
    }
    return pos < end ? pos : undefined;
  }

  /** End of the covered run that starts at `pos` (pos itself when pos is not covered). */
  coveredUntil(pos: number): number {
    for (const [s, e] of this.spans) {
      if (s > pos) break;
      if (e > pos) return e;
    }
    return pos;
  }

  /** The parts of [start, end) not covered, in order. */
  gaps(start: number, end: number): Span[] {
    const out: Span[] = [];
    let pos = start;
    for (const [s, e] of this.spans) {
      if (pos >= end) break;
      if (e <= pos) continue;
      if (s > pos) out.push([pos, Math.min(s, end)]);
      pos = Math.max(pos, e);
    }
    if (pos < end) out.push([pos, end]);
    return out;
  }

  covers(start: number, end: number): boolean {
    return this.firstMissing(start, end) === undefined;
  }

  /** Length of the prefix [0, n) that is fully present. */
  contiguousFromZero(): number {
    const first = this.spans[0];
    return first && first[0] === 0 ? first[1] : 0;
  }

  /** Sum of the covered lengths. */
  totalBytes(): number {
    let n = 0;
    for (const [s, e] of this.spans) n += e - s;
    return n;
  }

  list(): Span[] {
    return this.spans.map(([s, e]) => [s, e] as const);
  }
}
