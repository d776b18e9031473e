// Fault injection: the download rate limit paces bytes without changing them.
import { Readable } from 'node:stream';
import { rateLimiter } from '../../src/server/faults';

describe('rateLimiter', () => {
  it('passes every byte through unchanged, in slices of at most one 50 ms tick', async () => {
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
    const bytesPerSecond = 4_000_000; // 200,000 bytes per tick
    const pieces: Buffer[] = [];
    for await (const piece of Readable.from([data.subarray(0, 250_000), data.subarray(250_000)]).pipe(
      rateLimiter(bytesPerSecond),
    )) {
      pieces.push(piece as Buffer);
    }
    expect(Buffer.concat(pieces)).toEqual(data);
    expect(Math.max(...pieces.map((p) => p.length))).toBeLessThanOrEqual(200_000);
    expect(pieces.length).toBeGreaterThanOrEqual(3);
  });
});
