// BatchedWriter: chunks land at the right offsets, coalesced while a write is in flight; a failed write surfaces.
import { BatchedWriter } from '../../src/sync/batched-writer';

function deferredWrites(): {
  writes: Array<{ data: Buffer; at: number; finish: (err?: Error) => void }>;
  write: (chunks: readonly Uint8Array[], at: number) => Promise<void>;
} {
  const writes: Array<{ data: Buffer; at: number; finish: (err?: Error) => void }> = [];
  return {
    writes,
    write: (chunks, at) =>
      new Promise<void>((resolve, reject) =>
        writes.push({ data: Buffer.concat(chunks), at, finish: (err) => (err ? reject(err) : resolve()) }),
      ),
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('BatchedWriter', () => {
  it('writes the first chunk at once and coalesces the ones arriving meanwhile', async () => {
    const io = deferredWrites();
    const ends: number[] = [];
    const w = new BatchedWriter(
      io.write,
      100,
      (chunks, at) => ends.push(at + Buffer.concat(chunks).length),
      1 << 20,
    );
    await w.push(Buffer.from('ab'));
    await w.push(Buffer.from('cd'));
    await w.push(Buffer.from('ef'));
    expect(io.writes.map((x) => [x.data.toString(), x.at])).toEqual([['ab', 100]]);
    io.writes[0]!.finish();
    await tick();
    expect(io.writes.map((x) => [x.data.toString(), x.at])).toEqual([
      ['ab', 100],
      ['cdef', 102],
    ]);
    const flushed = w.flush();
    io.writes[1]!.finish();
    await flushed;
    expect(ends).toEqual([102, 106]);
  });

  it('makes push wait when a full batch is queued behind the write in flight', async () => {
    const io = deferredWrites();
    const w = new BatchedWriter(io.write, 0, () => undefined, 4);
    await w.push(Buffer.from('1234'));
    let resolved = false;
    const p = w.push(Buffer.from('5678')).then(() => (resolved = true));
    await tick();
    expect(resolved).toBe(false);
    io.writes[0]!.finish();
    await p;
    expect(resolved).toBe(true);
  });

  it('reports a failed write on the next push and on flush', async () => {
    const io = deferredWrites();
    const w = new BatchedWriter(io.write, 0, () => undefined, 1 << 20);
    await w.push(Buffer.from('x'));
    io.writes[0]!.finish(new Error('disk full'));
    await tick();
    await expect(w.push(Buffer.from('y'))).rejects.toThrow('disk full');
    await expect(w.flush()).rejects.toThrow('disk full');
  });
});
