import { ByteRanges } from '../../src/cache/byte-ranges';

describe('ByteRanges (range map)', () => {
  it('merges overlapping and adjacent spans and reports the first gap', () => {
    const r = new ByteRanges();
    r.add(10, 20);
    r.add(30, 40);
    r.add(20, 25); // adjacent to the first
    expect(r.list()).toEqual([
      [10, 25],
      [30, 40],
    ]);
    r.add(0, 35); // swallows both
    expect(r.list()).toEqual([[0, 40]]);
    expect(r.firstMissing(0, 50)).toBe(40);
    expect(r.covers(5, 40)).toBe(true);
    expect(r.contiguousFromZero()).toBe(40);
  });

  it('lists gaps, covered runs and total bytes', () => {
    const r = new ByteRanges([
      [5, 10],
      [20, 30],
    ]);
    expect(r.gaps(0, 40)).toEqual([
      [0, 5],
      [10, 20],
      [30, 40],
    ]);
    expect(r.gaps(6, 25)).toEqual([[10, 20]]);
    expect(r.coveredUntil(7)).toBe(10);
    expect(r.coveredUntil(15)).toBe(15);
    expect(r.totalBytes()).toBe(15);
    expect(r.contiguousFromZero()).toBe(0);
    r.clear();
    expect(r.gaps(0, 3)).toEqual([[0, 3]]);
  });
});
