// A set of half-open byte ranges [start, end) that merges on insert: which parts of a file being filled are written.

export class ByteRanges {
  /** Sorted, non-overlapping, non-adjacent. */
  private readonly spans: Array<[number, number]> = [];

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

  covers(start: number, end: number): boolean {
    return this.firstMissing(start, end) === undefined;
  }

  /** Length of the prefix [0, n) that is fully present. */
  contiguousFromZero(): number {
    const first = this.spans[0];
    return first && first[0] === 0 ? first[1] : 0;
  }
}
