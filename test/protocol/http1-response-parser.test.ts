// Http1ResponseParser: the pure HTTP/1.1 response parser of the direct download client. Every split of the input
// must give the same head and body; body chunks must be views of the fed bytes (zero copy); hostile input must give
// ProtocolError (or TruncatedBodyError at a premature EOF), never any other exception.
import * as fc from 'fast-check';
import { ProtocolError, TruncatedBodyError } from '../../src/protocol/errors';
import {
  Http1ResponseParser,
  MAX_HEAD_BYTES,
  type ResponseHead,
  type ResponseSink,
} from '../../src/protocol/http/http1-response-parser';

/** A sink that records what the parser reported (body bytes copied right away: the views are only lent). */
class Recorder implements ResponseSink {
  readonly heads: ResponseHead[] = [];
  readonly chunks: Uint8Array[] = [];
  readonly copies: Buffer[] = [];
  readonly events: string[] = [];
  ends = 0;

  onHead(head: ResponseHead): void {
    this.heads.push(head);
    this.events.push('head');
  }

  onBody(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.copies.push(Buffer.from(chunk));
    this.events.push('body');
  }

  onEnd(): void {
    this.ends++;
    this.events.push('end');
  }

  get body(): Buffer {
    return Buffer.concat(this.copies);
  }

  get head(): ResponseHead {
    expect(this.heads).toHaveLength(1);
    return this.heads[0]!;
  }
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** A private copy of `b` in its own ArrayBuffer (Buffer.from(string) shares Node's pool between small buffers). */
function own(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

/** Splits `data` at the given offsets (each piece in its own ArrayBuffer). */
function splitAt(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [0, ...[...cuts].sort((a, b) => a - b), data.length];
  const out: Uint8Array[] = [];
  for (let i = 0; i + 1 < points.length; i++) out.push(own(data.subarray(points[i], points[i + 1])));
  return out;
}

interface Run {
  rec: Recorder;
  parser: Http1ResponseParser;
  /** How many bytes of each piece the parser took. */
  consumed: number[];
}

/** Feeds the pieces in order, each only once the previous was taken whole (as a socket would). */
function run(pieces: readonly Uint8Array[]): Run {
  const rec = new Recorder();
  const parser = new Http1ResponseParser(rec);
  const consumed: number[] = [];
  for (const p of pieces) consumed.push(parser.feed(p));
  return { rec, parser, consumed };
}

function parseWhole(text: string | Uint8Array): Run {
  return run([own(typeof text === 'string' ? bytes(text) : text)]);
}

function expectProtocolError(pieces: readonly Uint8Array[], message?: RegExp): void {
  const rec = new Recorder();
  const parser = new Http1ResponseParser(rec);
  let thrown: unknown;
  try {
    for (const p of pieces) parser.feed(p);
    parser.finish();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ProtocolError);
  if (message) expect((thrown as Error).message).toMatch(message);
}

function chunkedEncode(parts: readonly Uint8Array[], ext = '', trailer = ''): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    out.push(bytes(`${p.length.toString(16)}${ext}\r\n`), Buffer.from(p), bytes('\r\n'));
  }
  out.push(bytes(`0${ext}\r\n${trailer}\r\n`));
  return Buffer.concat(out);
}

const BODY = 'The quick brown fox jumps over the lazy dog.';
const CL_RESPONSE = `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;

describe('Content-Length bodies', () => {
  test('one feed: head, body, end; every byte consumed', () => {
    const { rec, parser, consumed } = parseWhole(CL_RESPONSE);
    expect(rec.head).toEqual({
      status: 200,
      headers: { 'content-type': 'text/plain', 'content-length': String(BODY.length) },
      keepAlive: true,
    });
    expect(rec.body.toString('latin1')).toBe(BODY);
    expect(rec.ends).toBe(1);
    expect(rec.events[0]).toBe('head');
    expect(rec.events[rec.events.length - 1]).toBe('end');
    expect(consumed).toEqual([CL_RESPONSE.length]);
    expect(parser.done).toBe(true);
    expect(() => parser.finish()).not.toThrow(); // EOF after the end is fine
    expect(rec.ends).toBe(1);
  });

  test('split in two at every byte boundary (the blank line straddling the feeds included)', () => {
    const data = bytes(CL_RESPONSE);
    for (let cut = 0; cut <= data.length; cut++) {
      const pieces = splitAt(data, [cut]);
      const { rec, parser, consumed } = run(pieces);
      expect(rec.head.status).toBe(200);
      expect(rec.body.toString('latin1')).toBe(BODY);
      expect(rec.ends).toBe(1);
      expect(parser.done).toBe(true);
      expect(consumed).toEqual(pieces.map((p) => p.length));
    }
  });

  test('split in three at every pair of boundaries', () => {
    const data = bytes(CL_RESPONSE);
    for (let a = 0; a <= data.length; a++) {
      for (let b = a; b <= data.length; b++) {
        const { rec } = run(splitAt(data, [a, b]));
        expect(rec.body.toString('latin1')).toBe(BODY);
        expect(rec.ends).toBe(1);
      }
    }
  });

  test('one byte per feed', () => {
    const data = bytes(CL_RESPONSE);
    const pieces = Array.from({ length: data.length }, (_, i) => own(data.subarray(i, i + 1)));
    const { rec, consumed } = run(pieces);
    expect(rec.head.headers['content-length']).toBe(String(BODY.length));
    expect(rec.body.toString('latin1')).toBe(BODY);
    expect(rec.chunks).toHaveLength(BODY.length);
    expect(rec.ends).toBe(1);
    expect(consumed.every((n) => n === 1)).toBe(true);
  });

  test('body chunks are views of the fed buffer (same ArrayBuffer), never copies', () => {
    const data = bytes(CL_RESPONSE);
    const headLen = CL_RESPONSE.length - BODY.length;
    for (const cuts of [[], [headLen], [headLen - 2], [headLen + 5], [headLen + 5, headLen + 20]]) {
      const pieces = splitAt(data, cuts);
      const { rec } = run(pieces);
      expect(rec.chunks.length).toBeGreaterThan(0);
      for (const c of rec.chunks) {
        const from = pieces.find((p) => p.buffer === c.buffer);
        expect(from).toBeDefined();
        expect(c.byteOffset).toBeGreaterThanOrEqual(from!.byteOffset);
        expect(c.byteOffset + c.length).toBeLessThanOrEqual(from!.byteOffset + from!.length);
      }
    }
  });

  test('a view into a larger buffer (as a socket read into a slab) is honoured: offsets are relative', () => {
    const slab = new Uint8Array(4096).fill(0x55);
    const data = bytes(CL_RESPONSE);
    slab.set(data, 1000);
    const view = slab.subarray(1000, 1000 + data.length);
    const rec = new Recorder();
    const parser = new Http1ResponseParser(rec);
    expect(parser.feed(view)).toBe(data.length);
    expect(rec.body.toString('latin1')).toBe(BODY);
    expect(rec.chunks[0]!.buffer).toBe(slab.buffer);
    expect(rec.chunks[0]!.byteOffset).toBe(1000 + CL_RESPONSE.length - BODY.length);
  });

  test('binary body bytes (CR, LF, NUL, 0xff) pass through untouched', () => {
    const body = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    const data = Buffer.concat([bytes(`HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\n`), body]);
    for (const cut of [10, 40, 41, 42, 300]) {
      const { rec } = run(splitAt(data, [cut]));
      expect(rec.body.equals(body)).toBe(true);
    }
  });

  test('a duplicated identical Content-Length is accepted', () => {
    const { rec } = parseWhole('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc');
    expect(rec.body.toString()).toBe('abc');
    expect(rec.ends).toBe(1);
    const joined = parseWhole('HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc');
    expect(joined.rec.body.toString()).toBe('abc');
  });

  test('property: any split of any body gives the same bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (body, rawCuts) => {
          const data = Buffer.concat([
            bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`),
            body,
          ]);
          const cuts = rawCuts.map((c) => c % (data.length + 1));
          const { rec, consumed } = run(splitAt(data, cuts));
          expect(rec.body.equals(Buffer.from(body))).toBe(true);
          expect(rec.ends).toBe(1);
          expect(consumed.reduce((a, b) => a + b, 0)).toBe(data.length);
        },
      ),
    );
  });
});

describe('chunked bodies', () => {
  const PARTS = ['Hello, ', 'chunked ', 'world', '!'.repeat(20)].map((s) => bytes(s));
  const EXPECTED = Buffer.concat(PARTS).toString('latin1');
  const HEAD = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Id: 7\r\n\r\n';

  function variants(): Array<{ name: string; data: Buffer }> {
    return [
      { name: 'plain', data: Buffer.concat([bytes(HEAD), chunkedEncode(PARTS)]) },
      {
        name: 'extensions',
        data: Buffer.concat([bytes(HEAD), chunkedEncode(PARTS, ';name=value;flag')]),
      },
      {
        name: 'quoted extension with a semicolon',
        data: Buffer.concat([bytes(HEAD), chunkedEncode(PARTS, ' ;n="a;b"')]),
      },
      {
        name: 'trailers',
        data: Buffer.concat([bytes(HEAD), chunkedEncode(PARTS, '', 'X-Checksum: abc\r\nX-More: 1\r\n')]),
      },
    ];
  }

  test.each(variants())('$name: split in two at every byte boundary', ({ data }) => {
    for (let cut = 0; cut <= data.length; cut++) {
      const pieces = splitAt(data, [cut]);
      const { rec, parser, consumed } = run(pieces);
      expect(rec.head.headers['transfer-encoding']).toBe('chunked');
      expect(rec.head.keepAlive).toBe(true);
      expect(rec.body.toString('latin1')).toBe(EXPECTED);
      expect(rec.ends).toBe(1);
      expect(parser.done).toBe(true);
      expect(consumed).toEqual(pieces.map((p) => p.length));
    }
  });

  test('one byte per feed, with extensions and trailers', () => {
    const data = Buffer.concat([bytes(HEAD), chunkedEncode(PARTS, ';a=b', 'Trailer-Name: v\r\n')]);
    const pieces = Array.from({ length: data.length }, (_, i) => own(data.subarray(i, i + 1)));
    const { rec, consumed } = run(pieces);
    expect(rec.body.toString('latin1')).toBe(EXPECTED);
    expect(rec.ends).toBe(1);
    expect(consumed.every((n) => n === 1)).toBe(true);
  });

  test('upper-case hex sizes with leading zeros', () => {
    const data = Buffer.concat([
      bytes(HEAD),
      bytes('000A\r\n0123456789\r\n1F\r\n'),
      Buffer.alloc(31, 0x41),
      bytes('\r\n0\r\n\r\n'),
    ]);
    for (let cut = 0; cut <= data.length; cut++) {
      const { rec } = run(splitAt(data, [cut]));
      expect(rec.body.toString('latin1')).toBe(`0123456789${'A'.repeat(31)}`);
      expect(rec.ends).toBe(1);
    }
  });

  test('chunk data are views of the fed buffer', () => {
    const data = Buffer.concat([bytes(HEAD), chunkedEncode(PARTS)]);
    const pieces = splitAt(data, [HEAD.length + 4, HEAD.length + 30]);
    const { rec } = run(pieces);
    for (const c of rec.chunks) expect(pieces.some((p) => p.buffer === c.buffer)).toBe(true);
  });

  test('trailers are not reported as headers; the end comes after them', () => {
    const data = Buffer.concat([bytes(HEAD), chunkedEncode(PARTS, '', 'X-Trailer: 1\r\n')]);
    const cut = data.length - 3; // inside the trailer section
    const rec = new Recorder();
    const parser = new Http1ResponseParser(rec);
    parser.feed(own(data.subarray(0, cut)));
    expect(rec.ends).toBe(0);
    expect(parser.done).toBe(false);
    parser.feed(own(data.subarray(cut)));
    expect(rec.ends).toBe(1);
    expect(rec.head.headers['x-trailer']).toBeUndefined();
  });

  test('an empty chunked body ends at the last chunk', () => {
    const { rec, consumed } = parseWhole(`${HEAD}0\r\n\r\n`);
    expect(rec.body.length).toBe(0);
    expect(rec.chunks).toHaveLength(0);
    expect(rec.ends).toBe(1);
    expect(consumed).toEqual([HEAD.length + 5]);
  });

  test('Transfer-Encoding wins over Content-Length', () => {
    const data = Buffer.concat([
      bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n'),
      chunkedEncode(PARTS),
    ]);
    const { rec } = parseWhole(data);
    expect(rec.body.toString('latin1')).toBe(EXPECTED);
  });

  test('property: random chunkings, extensions, trailers and feed splits give the same body', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 70 }), { maxLength: 6 }),
        fc.constantFrom('', ';x=1', ';ext="q;r"', '  ;a', '\t;b=c;d'),
        fc.constantFrom('', 'X-T: 1\r\n', 'A: b\r\nC: d\r\n'),
        fc.array(fc.nat(), { maxLength: 10 }),
        (parts, ext, trailer, rawCuts) => {
          const data = Buffer.concat([bytes(HEAD), chunkedEncode(parts, ext, trailer)]);
          const cuts = rawCuts.map((c) => c % (data.length + 1));
          const pieces = splitAt(data, cuts);
          const { rec, consumed } = run(pieces);
          expect(rec.body.equals(Buffer.concat(parts))).toBe(true);
          expect(rec.ends).toBe(1);
          expect(consumed).toEqual(pieces.map((p) => p.length));
          for (const c of rec.chunks) expect(pieces.some((p) => p.buffer === c.buffer)).toBe(true);
        },
      ),
    );
  });
});

describe('read-until-close bodies', () => {
  test('no length: the body runs until finish(); the connection is not kept', () => {
    const rec = new Recorder();
    const parser = new Http1ResponseParser(rec);
    expect(parser.feed(own(bytes('HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\nabc')))).toBe(39);
    expect(rec.head.keepAlive).toBe(false);
    expect(parser.feed(own(bytes('def')))).toBe(3);
    expect(parser.feed(own(bytes('\r\n\r\nghi')))).toBe(7);
    expect(rec.ends).toBe(0);
    expect(parser.done).toBe(false);
    parser.finish();
    expect(rec.ends).toBe(1);
    expect(parser.done).toBe(true);
    expect(rec.body.toString('latin1')).toBe('abcdef\r\n\r\nghi');
  });

  test('an empty read-until-close body ends at finish()', () => {
    const { rec, parser } = parseWhole('HTTP/1.1 200 OK\r\n\r\n');
    expect(rec.ends).toBe(0);
    parser.finish();
    expect(rec.ends).toBe(1);
    expect(rec.body.length).toBe(0);
  });

  test('Connection: keep-alive does not make an unbounded body reusable', () => {
    const { rec } = parseWhole('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nabc');
    expect(rec.head.keepAlive).toBe(false);
  });
});

describe('interim and bodiless responses', () => {
  test('100 Continue (and 103 Early Hints) before the real head are skipped', () => {
    const text =
      'HTTP/1.1 100 Continue\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const data = bytes(text);
    for (let cut = 0; cut <= data.length; cut++) {
      const { rec, parser } = run(splitAt(data, [cut]));
      expect(rec.heads).toHaveLength(1);
      expect(rec.head.status).toBe(200);
      expect(rec.head.headers['link']).toBeUndefined();
      expect(rec.body.toString()).toBe('ok');
      expect(rec.ends).toBe(1);
      expect(parser.done).toBe(true);
    }
  });

  test.each([
    ['204', 'HTTP/1.1 204 No Content\r\n\r\n'],
    ['304', 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'],
    [
      "304 with the representation's Content-Length",
      'HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n',
    ],
    ['204 with Transfer-Encoding', 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['Content-Length: 0', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
  ])('%s ends right at the head; following bytes are not taken', (_name, head) => {
    const rec = new Recorder();
    const parser = new Http1ResponseParser(rec);
    const next = 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx';
    expect(parser.feed(own(bytes(head + next)))).toBe(head.length);
    expect(rec.events).toEqual(['head', 'end']);
    expect(rec.head.keepAlive).toBe(true);
    expect(parser.done).toBe(true);
    expect(parser.feed(own(bytes(next)))).toBe(0);
    expect(rec.events).toEqual(['head', 'end']);
  });
});

describe('keep-alive rules', () => {
  const ka = (head: string): boolean => {
    const { rec } = parseWhole(`${head}\r\n\r\n`);
    return rec.head.keepAlive;
  };

  test('HTTP/1.1 keeps the connection unless told to close', () => {
    expect(ka('HTTP/1.1 200 OK\r\nContent-Length: 0')).toBe(true);
    expect(ka('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive')).toBe(true);
    expect(ka('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close')).toBe(false);
    expect(ka('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Close')).toBe(false);
    expect(ka('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: x-foo, close')).toBe(false);
    expect(ka('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: x-foo\r\nConnection: close')).toBe(false);
  });

  test('HTTP/1.0 closes unless it asks to keep alive', () => {
    expect(ka('HTTP/1.0 200 OK\r\nContent-Length: 0')).toBe(false);
    expect(ka('HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive')).toBe(true);
    expect(ka('HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive, close')).toBe(true);
  });

  test('a body delimited by the close never keeps the connection', () => {
    expect(parseWhole('HTTP/1.1 200 OK\r\n\r\n').rec.head.keepAlive).toBe(false);
    expect(parseWhole('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n').rec.head.keepAlive).toBe(false);
  });

  test('a chunked 1.1 answer is kept', () => {
    expect(
      parseWhole('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n').rec.head.keepAlive,
    ).toBe(true);
  });
});

describe('headers', () => {
  test('names are lower-cased, values trimmed, repeats become arrays (in order)', () => {
    const { rec } = parseWhole(
      'HTTP/1.1 404 Not Found\r\n' +
        'Set-Cookie: a=1\r\n' +
        'X-Mixed-Case:   padded value  \r\n' +
        'set-cookie: b=2\r\n' +
        'SET-COOKIE: c=3\r\n' +
        'Location: http://host:8080/path?q=a:b\r\n' +
        'X-Empty:\r\n' +
        'X-Twice: one\r\n' +
        'x-twice: two\r\n' +
        'Content-Length: 0\r\n\r\n',
    );
    expect(rec.head.status).toBe(404);
    expect(rec.head.headers).toEqual({
      'set-cookie': ['a=1', 'b=2', 'c=3'],
      'x-mixed-case': 'padded value',
      location: 'http://host:8080/path?q=a:b',
      'x-empty': '',
      'x-twice': ['one', 'two'],
      'content-length': '0',
    });
  });

  test('a status line without a reason phrase, or with odd reason text, is fine', () => {
    expect(parseWhole('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n').rec.head.status).toBe(200);
    expect(parseWhole('HTTP/1.1 599 Whatever: you like \r\nContent-Length: 0\r\n\r\n').rec.head.status).toBe(
      599,
    );
  });

  test('latin1 header values survive', () => {
    const { rec } = parseWhole(
      Buffer.concat([
        bytes('HTTP/1.1 200 OK\r\nX-N: caf'),
        Buffer.from([0xe9]),
        bytes('\r\nContent-Length: 0\r\n\r\n'),
      ]),
    );
    expect(rec.head.headers['x-n']).toBe('caf\u00e9');
  });

  test('a head of exactly MAX_HEAD_BYTES is accepted, one byte more is refused', () => {
    const base = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: \r\n\r\n';
    const pad = 'p'.repeat(MAX_HEAD_BYTES - base.length);
    const exact = base.replace('X-Pad: ', `X-Pad: ${pad}`);
    expect(exact.length).toBe(MAX_HEAD_BYTES);
    const { rec } = parseWhole(exact);
    expect((rec.head.headers['x-pad'] as string).length).toBe(pad.length);
    expectProtocolError([own(bytes(exact.replace('X-Pad: ', 'X-Pad: p')))], /larger than/);
  });
});

describe('hostile input', () => {
  test.each([
    ['HTTP/2 200 OK'],
    ['HTTP/1.2 200 OK'],
    ['HTTP/1.1 20 OK'],
    ['HTTP/1.1 2000 OK'],
    ['HTTP/1.1 099 Low'],
    ['HTTP/1.1 200OK'],
    ['http/1.1 200 OK'],
    [' HTTP/1.1 200 OK'],
    ['ICY 200 OK'],
    ['garbage'],
    [''],
  ])('malformed status line %j', (line) => {
    expectProtocolError([own(bytes(`${line}\r\nContent-Length: 0\r\n\r\n`))], /status line/);
  });

  test.each([
    ['no colon', 'NoColonHere'],
    ['empty name', ': value'],
    ['space before the colon', 'Name : value'],
    ['obs-fold continuation', 'X-A: 1\r\n  continued'],
    ['space inside the name', 'Bad Name: v'],
    ['control byte in the name', 'X\u0001Y: v'],
    ['empty line inside the head is impossible, a bare CR line is not', '\r'],
  ])('bad header line: %s', (_name, line) => {
    expectProtocolError(
      [own(bytes(`HTTP/1.1 200 OK\r\n${line}\r\nContent-Length: 0\r\n\r\n`))],
      /header line/,
    );
  });

  test('a head that never ends is refused once over MAX_HEAD_BYTES, even fed in small pieces', () => {
    const rec = new Recorder();
    const parser = new Http1ResponseParser(rec);
    parser.feed(own(bytes('HTTP/1.1 200 OK\r\n')));
    const line = own(bytes(`X-Filler: ${'f'.repeat(1000)}\r\n`));
    let thrown: unknown;
    let fed = 0;
    try {
      for (;;) {
        parser.feed(line);
        fed += line.length;
        if (fed > 2 * MAX_HEAD_BYTES) break;
      }
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ProtocolError);
    expect(fed).toBeLessThanOrEqual(MAX_HEAD_BYTES);
    expect(rec.heads).toHaveLength(0);
  });

  test('one huge complete head in a single feed is refused', () => {
    expectProtocolError(
      [own(bytes(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(MAX_HEAD_BYTES)}\r\nContent-Length: 0\r\n\r\n`))],
      /larger than/,
    );
  });

  test.each([
    ['two different headers', 'Content-Length: 5\r\nContent-Length: 6'],
    ['a list of different values', 'Content-Length: 5, 6'],
    ['not a number', 'Content-Length: five'],
    ['negative', 'Content-Length: -5'],
    ['signed', 'Content-Length: +5'],
    ['fraction', 'Content-Length: 5.0'],
    ['hex', 'Content-Length: 0x5'],
    ['too many digits', `Content-Length: ${'9'.repeat(17)}`],
  ])('bad Content-Length: %s', (_name, header) => {
    expectProtocolError([own(bytes(`HTTP/1.1 200 OK\r\n${header}\r\n\r\nhello`))], /Content-Length/);
  });

  const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';

  test.each([
    ['not hex', 'xyz\r\n'],
    ['empty', '\r\n'],
    ['negative', '-1\r\n'],
    ['0x prefix', '0x5\r\n'],
    ['too many digits (overflow)', `${'f'.repeat(14)}\r\n`],
    ['garbage after the size', '5 x\r\n'],
    ['leading space', ' 5\r\n'],
  ])('bad chunk size: %s', (_name, sizeLine) => {
    expectProtocolError([own(bytes(`${CHUNKED_HEAD}${sizeLine}hello\r\n0\r\n\r\n`))], /chunk size/);
  });

  test('missing CRLF after chunk data (a chunk longer than its size)', () => {
    expectProtocolError([own(bytes(`${CHUNKED_HEAD}3\r\nhello\r\n0\r\n\r\n`))], /missing CRLF/);
    // Split right after the data, too.
    const data = bytes(`${CHUNKED_HEAD}3\r\nhelXY\r\n0\r\n\r\n`);
    for (let cut = CHUNKED_HEAD.length; cut <= data.length; cut++) {
      expectProtocolError(splitAt(data, [cut]), /missing CRLF/);
    }
  });

  test('a chunk-size or trailer line that never ends is refused', () => {
    expectProtocolError([own(bytes(`${CHUNKED_HEAD}5;${'e'.repeat(5000)}`))], /line too long/);
    expectProtocolError([own(bytes(`${CHUNKED_HEAD}0\r\nX: ${'t'.repeat(5000)}`))], /line too long/);
    // Many short feeds add up, too.
    const rec = new Recorder();
    const parser = new Http1ResponseParser(rec);
    parser.feed(own(bytes(`${CHUNKED_HEAD}5;`)));
    expect(() => {
      for (let i = 0; i < 100; i++) parser.feed(own(bytes('e'.repeat(100))));
    }).toThrow(ProtocolError);
  });

  test.each([['gzip'], ['gzip, chunked'], ['chunked, gzip'], ['chunked, chunked'], ['identity']])(
    'unsupported Transfer-Encoding %j',
    (te) => {
      expectProtocolError(
        [own(bytes(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`))],
        /Transfer-Encoding/,
      );
    },
  );

  test('Transfer-Encoding in two headers (gzip then chunked) is refused', () => {
    expectProtocolError(
      [
        own(
          bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
        ),
      ],
      /Transfer-Encoding/,
    );
  });

  test('Transfer-Encoding: Chunked (any case) is chunked', () => {
    const { rec } = parseWhole('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    expect(rec.body.toString()).toBe('ok');
    expect(rec.ends).toBe(1);
  });

  test('101 Switching Protocols is refused', () => {
    expectProtocolError(
      [own(bytes('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'))],
      /101/,
    );
  });

  test('EOF in a Content-Length body: TruncatedBodyError (a NetworkError, not a ProtocolError)', () => {
    const { rec, parser } = parseWhole('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello');
    expect(rec.body.toString()).toBe('hello');
    let thrown: unknown;
    try {
      parser.finish();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TruncatedBodyError);
    expect(thrown).not.toBeInstanceOf(ProtocolError);
    expect(rec.ends).toBe(0);
  });

  test('EOF in a chunked body (inside data, a size line, or the trailers): TruncatedBodyError', () => {
    for (const text of [
      '5\r\nhel',
      '5\r\nhello',
      '5\r\nhello\r\n',
      '5\r\nhello\r\n0\r\n',
      '5\r\nhello\r\n0\r\nX: 1\r\n',
    ]) {
      const { parser } = parseWhole(`${CHUNKED_HEAD}${text}`);
      expect(() => parser.finish()).toThrow(TruncatedBodyError);
    }
  });

  test('EOF before or inside the head: ProtocolError', () => {
    const empty = new Http1ResponseParser(new Recorder());
    expect(empty.started).toBe(false);
    expect(() => empty.finish()).toThrow(ProtocolError);
    const { parser } = parseWhole('HTTP/1.1 200 OK\r\nContent-Le');
    expect(parser.started).toBe(true);
    expect(() => parser.finish()).toThrow(ProtocolError);
  });

  test('bytes after the end are not taken (feed returns fewer than given)', () => {
    const extra = 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad';
    const { rec, parser, consumed } = parseWhole(CL_RESPONSE + extra);
    expect(consumed).toEqual([CL_RESPONSE.length]);
    expect(rec.body.toString('latin1')).toBe(BODY);
    expect(rec.heads).toHaveLength(1);
    expect(parser.feed(own(bytes(extra)))).toBe(0);
    expect(rec.events.filter((e) => e === 'end')).toHaveLength(1);

    const chunked = `${CHUNKED_HEAD}2\r\nok\r\n0\r\n\r\n`;
    expect(parseWhole(`${chunked}junk`).consumed).toEqual([chunked.length]);
    // Split: the end arrives in the second feed, followed by extra bytes.
    const { consumed: c2 } = run([own(bytes(chunked.slice(0, 10))), own(bytes(`${chunked.slice(10)}junk`))]);
    expect(c2).toEqual([10, chunked.length - 10]);
  });

  test('started: false until the first byte of an answer', () => {
    const parser = new Http1ResponseParser(new Recorder());
    expect(parser.started).toBe(false);
    expect(parser.done).toBe(false);
    parser.feed(own(bytes('H')));
    expect(parser.started).toBe(true);
  });

  test('property: arbitrary bytes give a ProtocolError/TruncatedBodyError or a parse, nothing else', () => {
    const prefixes = [
      '',
      'HTTP/1.1 200 OK\r\n',
      `${CHUNKED_HEAD}`,
      'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...prefixes),
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (prefix, tail, rawCuts) => {
          const data = Buffer.concat([bytes(prefix), tail]);
          const cuts = rawCuts.map((c) => c % (data.length + 1));
          const rec = new Recorder();
          const parser = new Http1ResponseParser(rec);
          try {
            for (const p of splitAt(data, cuts)) {
              const n = parser.feed(p);
              expect(n).toBeLessThanOrEqual(p.length);
              if (n < p.length) expect(parser.done).toBe(true);
            }
            parser.finish();
            expect(rec.ends).toBe(1);
          } catch (err) {
            if (!(err instanceof ProtocolError) && !(err instanceof TruncatedBodyError)) throw err;
          }
          expect(rec.ends).toBeLessThanOrEqual(1);
        },
      ),
    );
  });
});
