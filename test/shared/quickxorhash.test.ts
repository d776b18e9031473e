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
