import { QuickXorHash, quickXorHash } from '../../src/shared/quickxorhash';

describe('QuickXorHash', () => {
  it('matches the published vector for "hello world"', () => {
    expect(quickXorHash(Buffer.from('hello world'))).toBe('aCgDG9jwBhDc4Q1yawMZAAAAAAA=');
  });
  it('hashes empty input to zeros', () => {
    expect(quickXorHash(Buffer.alloc(0))).toBe('AAAAAAAAAAAAAAAAAAAAAAAAAAA=');
  });
  it('gives the same digest whatever the chunking', () => {
    const data = Buffer.alloc(100_003);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    const whole = quickXorHash(data);
    const h = new QuickXorHash();
    for (let off = 0; off < data.length; off += 997) h.update(data.subarray(off, off + 997));
    expect(h.digest()).toBe(whole);
    expect(whole).not.toBe(quickXorHash(data.subarray(1)));
  });
});

describe('QuickXorHash word path', () => {
  it('agrees between aligned and unaligned views of the same bytes', () => {
    const backing = Buffer.alloc(10_000 + 3);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 131 + 7) & 0xff;
    const aligned = new Uint8Array(backing.buffer, backing.byteOffset, 10_000);
    const copy = Buffer.alloc(10_001);
    aligned.forEach((b, i) => (copy[i + 1] = b));
    const unaligned = copy.subarray(1);
    expect(quickXorHash(unaligned)).toBe(quickXorHash(aligned));
    // and byte-at-a-time agrees with both
    const h = new QuickXorHash();
    for (const b of aligned) h.update(Uint8Array.of(b));
    expect(h.digest()).toBe(quickXorHash(aligned));
  });
});

describe('QuickXorHash on large unaligned chunks', () => {
  it('agrees with the aligned path across several scratch-buffer rounds', () => {
    const size = 3 * 1024 * 1024 + 77;
    const backing = Buffer.alloc(size + 1);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 2654435761) >>> 24;
    const unaligned = backing.subarray(1);
    const aligned = Buffer.from(unaligned); // fresh allocation, offset 0
    const h = new QuickXorHash();
    h.update(unaligned.subarray(0, 3)).update(unaligned.subarray(3)); // lane and address both off by 3
    expect(h.digest()).toBe(quickXorHash(aligned));
  });
});
