import { randomBytes } from 'node:crypto';
import { QUICKXORHASH_WASM_BASE64 } from '../../src/shared/quickxorhash-wasm';
import { QuickXorHash, quickXorHash, useSimdKernel } from '../../src/shared/quickxorhash';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the build script is plain CommonJS
const { compileWat, WAT } = require('../../scripts/build-wasm.js') as {
  compileWat: (file: string) => Promise<string>;
  WAT: string;
};

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

describe('QuickXorHash SIMD kernel', () => {
  afterEach(() => useSimdKernel(true));

  it('is in use on this Node, and the embedded module is the compiled quickxorhash.wat', async () => {
    expect(useSimdKernel(true)).toBe(true);
    expect(await compileWat(WAT)).toBe(QUICKXORHASH_WASM_BASE64);
  });

  it('gives the same digests as the JS loop for every size, offset and chunking', () => {
    const data = randomBytes(2 * 1024 * 1024 + 1234);
    const cases: Array<[number, number, number]> = [
      [0, 160 * 16, 160 * 16], // exactly the kernel's smallest input
      [3, 160 * 16 + 5, 999],
      [1, data.length - 1, 65536], // network-sized, unaligned chunks
      [7, 1024 * 1024 + 333, 1024 * 1024 + 17], // chunks over the kernel's 1 MiB copy size
    ];
    for (const [from, to, step] of cases) {
      const digests = [true, false].map((on) => {
        useSimdKernel(on);
        const h = new QuickXorHash();
        for (let off = from; off < to; off += step) h.update(data.subarray(off, Math.min(to, off + step)));
        return h.digest();
      });
      expect(digests[0]).toBe(digests[1]);
    }
  });
});

describe('QuickXorHash segments hashed apart', () => {
  it('combine into the whole digest: segment hashers startingAt their offset, merged in order', () => {
    const data = randomBytes(1_000_003);
    for (const cuts of [[0], [1], [159, 160, 161], [4096, 65536, 700_001], [999_999, 1_000_002]]) {
      const bounds = [0, ...cuts, data.length];
      const whole = new QuickXorHash();
      for (let i = 0; i + 1 < bounds.length; i++) {
        const [a, b] = [bounds[i]!, bounds[i + 1]!];
        const seg = QuickXorHash.startingAt(a).update(data.subarray(a, b));
        whole.mergeLanes(seg.laneBytes(), b - a);
      }
      expect(whole.digest()).toBe(quickXorHash(data));
    }
  });

  it('refuses lanes of the wrong size', () => {
    expect(() => new QuickXorHash().mergeLanes(new Uint8Array(20), 1)).toThrow(RangeError);
  });
});
