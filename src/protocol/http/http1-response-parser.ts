// An HTTP/1.1 response parser for the direct download client (direct-get.ts): fed the bytes a socket read, it
// reports the head, the body as views of those same bytes (never copied), and the end. Content-Length, chunked and
// read-until-close bodies; 1xx answers skipped. Pure logic: no sockets, so every odd server is a unit test.
import { ProtocolError, TruncatedBodyError } from '../errors';
import type { HeaderMap } from '../headers';

/** A head larger than this is refused (undici's default is 16 KiB; SharePoint's heads are ~2 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line (with extensions) or trailer line longer than this is refused. */
const MAX_LINE_BYTES = 4096;

export interface ResponseHead {
  status: number;
  /** Lower-cased names; a repeated header becomes an array, as with undici. */
  headers: HeaderMap;
  /** Whether the connection may carry another request once this body has ended. */
  keepAlive: boolean;
}

export interface ResponseSink {
  onHead(head: ResponseHead): void;
  /** A view into the buffer passed to feed(): valid as long as that buffer is. */
  onBody(chunk: Uint8Array): void;
  onEnd(): void;
}

type Body =
  | { kind: 'length'; left: number }
  | { kind: 'chunked'; state: 'size' | 'data' | 'data-end' | 'trailer'; left: number }
  | { kind: 'eof' };

const EMPTY = Buffer.alloc(0);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export class Http1ResponseParser {
  private phase: 'head' | 'body' | 'done' = 'head';
  /** Head bytes of earlier reads (copied). */
  private head: Buffer = EMPTY;
  private body: Body = { kind: 'eof' };
  private line = '';

  constructor(private readonly sink: ResponseSink) {}

  get done(): boolean {
    return this.phase === 'done';
  }

  /** Whether any byte of a response has been seen (a reused connection that fails before this may be retried). */
  get started(): boolean {
    return this.phase !== 'head' || this.head.length > 0;
  }

  /**
   * Parses `buf`. Returns how many of its bytes belong to this response: fewer than `buf.length` only once the
   * response has ended (the rest would be a second response nobody asked for). Throws ProtocolError.
   */
  feed(buf: Uint8Array): number {
    let at = 0;
    while (at < buf.length && this.phase !== 'done') {
      at = this.phase === 'head' ? this.feedHead(buf, at) : this.feedBody(buf, at);
    }
    return at;
  }

  /** The connection ended (EOF). Ends a read-until-close body; anything else unfinished is an error. */
  finish(): void {
    if (this.phase === 'done') return;
    if (this.phase === 'body' && this.body.kind === 'eof') {
      this.end();
      return;
    }
    if (this.phase === 'head') throw new ProtocolError('connection closed before a complete response head');
    throw new TruncatedBodyError('connection closed before the end of the response body');
  }

  private feedHead(buf: Uint8Array, from: number): number {
    const slice = Buffer.from(buf.buffer, buf.byteOffset + from, buf.length - from);
    const had = this.head.length;
    const joined = had > 0 ? Buffer.concat([this.head, slice]) : slice;
    // The blank line may straddle two reads: search from just before the new bytes.
    const end = joined.indexOf('\r\n\r\n', Math.max(0, had - 3), 'latin1');
    if ((end < 0 ? joined.length : end + 4) > MAX_HEAD_BYTES)
      throw new ProtocolError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
    if (end < 0) {
      this.head = had > 0 ? joined : Buffer.from(slice); // a copy: the read buffer is reused
      return buf.length;
    }
    this.head = EMPTY;
    this.startResponse(joined.toString('latin1', 0, end));
    return from + end + 4 - had;
  }

  private startResponse(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: .*)?$/.exec(lines[0] ?? '');
    if (!m)
      throw new ProtocolError(`malformed status line: ${JSON.stringify((lines[0] ?? '').slice(0, 60))}`);
    const minor = Number(m[1]);
    const status = Number(m[2]);
    const headers: Record<string, string | string[]> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!TOKEN.test(name))
        throw new ProtocolError(`malformed header line: ${JSON.stringify(line.slice(0, 60))}`);
      const key = name.toLowerCase();
      const value = line.slice(colon + 1).trim();
      const had = headers[key];
      headers[key] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    if (status >= 100 && status < 200) {
      if (status === 101) throw new ProtocolError('unexpected 101 Switching Protocols');
      return; // an interim answer: the real head follows
    }
    const connection = listValues(headers['connection']);
    let keepAlive = minor === 1 ? !connection.includes('close') : connection.includes('keep-alive');
    const te = listValues(headers['transfer-encoding']);
    const lengths = [...new Set(listValues(headers['content-length']))];
    if (status === 204 || status === 304) {
      this.phase = 'done';
    } else if (te.length > 0) {
      if (te[te.length - 1] !== 'chunked' || te.length > 1)
        throw new ProtocolError(`unsupported Transfer-Encoding ${te.join(', ').slice(0, 40)}`);
      this.body = { kind: 'chunked', state: 'size', left: 0 };
      this.phase = 'body';
    } else if (lengths.length > 0) {
      const only = lengths[0] ?? '';
      if (lengths.length > 1 || !/^\d{1,16}$/.test(only))
        throw new ProtocolError(`malformed Content-Length ${lengths.join(', ').slice(0, 40)}`);
      const n = Number(only);
      this.body = { kind: 'length', left: n };
      this.phase = n === 0 ? 'done' : 'body';
    } else {
      this.body = { kind: 'eof' };
      this.phase = 'body';
      keepAlive = false;
    }
    this.sink.onHead({ status, headers, keepAlive });
    if (this.phase === 'done') this.sink.onEnd();
  }

  private feedBody(buf: Uint8Array, at: number): number {
    const b = this.body;
    if (b.kind === 'eof') {
      this.sink.onBody(buf.subarray(at));
      return buf.length;
    }
    if (b.kind === 'length') {
      const n = Math.min(b.left, buf.length - at);
      this.sink.onBody(buf.subarray(at, at + n));
      b.left -= n;
      if (b.left === 0) this.end();
      return at + n;
    }
    switch (b.state) {
      case 'data': {
        const n = Math.min(b.left, buf.length - at);
        this.sink.onBody(buf.subarray(at, at + n));
        b.left -= n;
        if (b.left === 0) b.state = 'data-end';
        return at + n;
      }
      case 'size':
      case 'data-end':
      case 'trailer': {
        const nl = buf.indexOf(0x0a, at);
        const stop = nl < 0 ? buf.length : nl;
        this.line += Buffer.from(buf.buffer, buf.byteOffset + at, stop - at).toString('latin1');
        if (this.line.length > MAX_LINE_BYTES) throw new ProtocolError('chunked body: line too long');
        if (nl < 0) return buf.length;
        const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
        this.line = '';
        this.chunkLine(b, line);
        return nl + 1;
      }
    }
  }

  private chunkLine(b: Extract<Body, { kind: 'chunked' }>, line: string): void {
    if (b.state === 'data-end') {
      if (line !== '') throw new ProtocolError('chunked body: missing CRLF after chunk data');
      b.state = 'size';
    } else if (b.state === 'size') {
      const m = /^([0-9a-fA-F]{1,13})[ \t]*(?:;.*)?$/.exec(line);
      if (!m) throw new ProtocolError(`chunked body: bad chunk size ${JSON.stringify(line.slice(0, 20))}`);
      b.left = parseInt(m[1] ?? '', 16);
      b.state = b.left === 0 ? 'trailer' : 'data';
    } else if (line === '') {
      this.end(); // trailers (ignored) end with an empty line
    }
  }

  private end(): void {
    this.phase = 'done';
    this.sink.onEnd();
  }
}

function listValues(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}
