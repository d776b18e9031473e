import { ReadAhead } from '../../src/sync/read-ahead';

const KIB = 1024;
const MIB = 1024 * KIB;
const opts = { minBytes: 1 * MIB, maxBytes: 8 * MIB, slackBytes: 256 * KIB };

describe('ReadAhead', () => {
  it('doubles the window while reads are sequential, up to the maximum', () => {
    const ra = new ReadAhead(opts);
    const windows: number[] = [];
    for (let pos = 0; pos < 6 * 128 * KIB; pos += 128 * KIB) windows.push(ra.next(pos, 128 * KIB));
    expect(windows).toEqual([1 * MIB, 2 * MIB, 4 * MIB, 8 * MIB, 8 * MIB, 8 * MIB]);
  });

  it('resets to the minimum on a jump and grows again from there', () => {
    const ra = new ReadAhead(opts);
    ra.next(0, 128 * KIB);
    ra.next(128 * KIB, 128 * KIB);
    expect(ra.next(256 * KIB, 128 * KIB)).toBe(4 * MIB);
    expect(ra.next(50 * MIB, 4 * KIB)).toBe(1 * MIB); // random read
    expect(ra.next(50 * MIB + 4 * KIB, 4 * KIB)).toBe(2 * MIB);
  });

  it('treats a first read away from offset 0 (tail) as random, and tolerates slightly reordered reads', () => {
    const ra = new ReadAhead(opts);
    expect(ra.next(10 * MIB, 4 * KIB)).toBe(1 * MIB);
    const ra2 = new ReadAhead(opts);
    ra2.next(0, 128 * KIB);
    ra2.next(256 * KIB, 128 * KIB); // the kernel's async read-ahead overtook the previous read
    expect(ra2.next(128 * KIB, 128 * KIB)).toBe(4 * MIB);
  });
});
