// readBatches: every chunk once, in order, uncopied; the body pauses at the high-water mark; an error after some data
// surfaces after that data; a body destroyed mid-way just ends (the caller counts bytes).
import { PassThrough } from 'node:stream';
import { flattenBatches, readBatches } from '../../src/protocol/http/read-batches';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('readBatches', () => {
  it('hands over the chunks that arrived together as one batch, the same objects, in order', async () => {
    const body = new PassThrough();
    const a = Buffer.from('aa');
    const b = Buffer.from('bbb');
    const it = readBatches(body)[Symbol.asyncIterator]();
    const first = it.next();
    body.write(a);
    expect((await first).value).toEqual([a]);
    body.write(b);
    body.write(Buffer.from('c'));
    await tick();
    const second = (await it.next()).value as Uint8Array[];
    expect(second[0]).toBe(b);
    expect(Buffer.concat(second).toString()).toBe('bbbc');
    body.end();
    expect((await it.next()).done).toBe(true);
  });

  it('pauses the body once the high-water mark is held, and resumes when the batch is taken', async () => {
    const body = new PassThrough();
    const it = readBatches(body, 4)[Symbol.asyncIterator]();
    const pending = it.next();
    body.write(Buffer.from('12345'));
    await pending;
    body.write(Buffer.from('678910'));
    await tick();
    expect(body.isPaused()).toBe(true);
    expect(Buffer.concat((await it.next()).value as Uint8Array[]).toString()).toBe('678910');
    expect(body.isPaused()).toBe(false);
    body.end();
    expect((await it.next()).done).toBe(true);
  });

  it('delivers the data that came before an error, then throws it', async () => {
    const body = new PassThrough();
    const seen: string[] = [];
    const done = (async () => {
      for await (const batch of readBatches(body)) seen.push(Buffer.concat(batch).toString());
    })();
    body.write(Buffer.from('ok'));
    await tick();
    body.destroy(new Error('connection reset'));
    await expect(done).rejects.toThrow('connection reset');
    expect(seen.join('')).toBe('ok');
  });

  it('ends without error when the body is destroyed quietly mid-way', async () => {
    const body = new PassThrough();
    const out: Buffer[] = [];
    const done = (async () => {
      for await (const c of flattenBatches(readBatches(body))) out.push(Buffer.from(c));
    })();
    body.write(Buffer.from('partial'));
    await tick();
    body.destroy();
    await done;
    expect(Buffer.concat(out).toString()).toBe('partial');
  });
});
