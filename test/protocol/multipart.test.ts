// The E8 multipart body streams each inline upload from its file: a file written, grown, shrunk or removed while
// it is read ends the body with LocalSourceChangedError before the part's closing boundary, so the server never
// gets a whole request carrying bytes of two versions (or bytes its XORHash does not name).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalSourceChangedError } from '../../src/protocol/errors';
import { multipartRelated } from '../../src/protocol/http/multipart';
import { toNetworkError } from '../../src/protocol/http/transport';
import { stampOf } from '../../src/protocol/source-stamp';
import { TempDirs } from '../helpers/temp-dirs';

const temps = new TempDirs();
afterAll(() => temps.cleanup());

const MIB = 1024 * 1024;

/** Reads the body, calling `after` once the part's first MiB was read; returns the bytes or the error. */
async function drain(body: AsyncIterable<Uint8Array>, after: () => void): Promise<unknown> {
  const got: Buffer[] = [];
  let file = 0;
  try {
    for await (const c of body) {
      got.push(Buffer.from(c));
      if (c.length === MIB && ++file === 1) after();
    }
    return Buffer.concat(got);
  } catch (err) {
    return err;
  }
}

describe('multipart body of inline uploads', () => {
  const cases: Array<[string, (p: string) => void, string]> = [
    ['rewritten in place, same size', (p) => fs.writeFileSync(p, Buffer.alloc(3 * MIB, 9)), 'changed'],
    ['grown', (p) => fs.appendFileSync(p, 'more'), 'grew'],
    ['truncated', (p) => fs.truncateSync(p, MIB + 10), 'shrank'],
  ];
  it.each(cases)(
    'a file %s while its part is read fails the body before its end',
    async (_what, change, word) => {
      const p = path.join(temps.make('spfs-mp-'), 'f.bin');
      fs.writeFileSync(p, Buffer.alloc(3 * MIB, 1));
      const body = multipartRelated('<x/>', [
        { fragmentSessionId: 'f', path: p, size: 3 * MIB, stamp: await stampOf(p) },
      ]);
      const out = await drain(body.open(), () => change(p));
      expect(out).toBeInstanceOf(LocalSourceChangedError);
      expect((out as Error).message).toContain(word);
    },
  );

  it("the request's failure is the source's error, not a network one (no outage, no lost-reply recovery)", () => {
    const changed = new LocalSourceChangedError('/x', 'grew');
    const fromUndici = new TypeError('fetch failed', { cause: new Error('body failed', { cause: changed }) });
    expect(toNetworkError(fromUndici, 'POST', new URL('http://127.0.0.1/'))).toBe(changed);
  });

  it('an unchanged file streams whole, to the declared length', async () => {
    const p = path.join(temps.make('spfs-mp-'), 'f.bin');
    fs.writeFileSync(p, Buffer.alloc(3 * MIB, 1));
    const body = multipartRelated('<x/>', [
      { fragmentSessionId: 'f', path: p, size: 3 * MIB, stamp: await stampOf(p) },
    ]);
    const out = await drain(body.open(), () => undefined);
    expect(Buffer.isBuffer(out)).toBe(true);
    expect((out as Buffer).length).toBe(body.length);
  });
});
