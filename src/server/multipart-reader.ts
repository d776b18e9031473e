// Streaming parser of `multipart/related` request bodies (E8): yields each part's headers and a body stream read
// straight from the socket, so binary parts go to disk without being buffered. Bounded: part count, header size,
// preamble size; a truncated or malformed body is a 400 HttpError.
import { HttpError } from './server-errors';

export interface MultipartLimits {
  maxParts: number;
  maxHeaderBytes: number;
}

export const DEFAULT_MULTIPART_LIMITS: MultipartLimits = { maxParts: 1001, maxHeaderBytes: 8 * 1024 };

export interface MultipartPart {
  /** Lower-case header names. */
  headers: Map<string, string>;
  /** Must be consumed (or abandoned: the reader drains it) before the next part is read. */
  body: AsyncIterable<Buffer>;
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const MAX_PREAMBLE_BYTES = 64 * 1024;

/** The boundary of a `multipart/related` (or `multipart/*`) Content-Type, or undefined. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^\s*multipart\//i.test(contentType)) return undefined;
  const m = /;\s*boundary\s*=\s*(?:"([^"]{1,200})"|([^\s;"]{1,200}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

export class MultipartReader {
  /** Starts with CRLF so the first delimiter looks like every other one. */
  private buf: Buffer = Buffer.from(CRLF);
  private ended = false;
  private readonly it: AsyncIterator<Buffer>;
  private readonly delim: Buffer;

  constructor(
    source: AsyncIterable<Buffer>,
    boundary: string,
    private readonly limits: MultipartLimits = DEFAULT_MULTIPART_LIMITS,
  ) {
    this.it = source[Symbol.asyncIterator]();
    this.delim = Buffer.from(`\r\n--${boundary}`);
  }

  private async more(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    return true;
  }

  private bad(msg: string): HttpError {
    return new HttpError(400, `multipart body: ${msg}`);
  }

  async *parts(): AsyncGenerator<MultipartPart> {
    for (;;) {
      const i = this.buf.indexOf(this.delim);
      if (i >= 0) {
        this.buf = this.buf.subarray(i + this.delim.length);
        break;
      }
      if (this.buf.length > MAX_PREAMBLE_BYTES) throw this.bad('no boundary found');
      if (!(await this.more())) throw this.bad('no boundary found');
    }
    for (let count = 0; ; count++) {
      while (this.buf.length < 2) if (!(await this.more())) throw this.bad('truncated after a boundary');
      if (this.buf[0] === 0x2d && this.buf[1] === 0x2d) return; // closing delimiter; the epilogue is ignored
      let h = this.buf.indexOf(HEADER_END);
      while (h < 0) {
        if (this.buf.length > this.limits.maxHeaderBytes) throw this.bad('part headers too large');
        if (!(await this.more())) throw this.bad('truncated part headers');
        h = this.buf.indexOf(HEADER_END);
      }
      if (h > this.limits.maxHeaderBytes) throw this.bad('part headers too large');
      if (count >= this.limits.maxParts) throw this.bad(`more than ${this.limits.maxParts} parts`);
      const headers = parseHeaders(this.buf.subarray(0, h).toString('latin1'));
      this.buf = this.buf.subarray(h + HEADER_END.length);
      const state = { done: false };
      yield { headers, body: this.body(state) };
      if (!state.done) for await (const chunk of this.body(state)) void chunk; // drain what the consumer left
    }
  }

  private async *body(state: { done: boolean }): AsyncGenerator<Buffer> {
    for (;;) {
      const i = this.buf.indexOf(this.delim);
      if (i >= 0) {
        const out = this.buf.subarray(0, i);
        this.buf = this.buf.subarray(i + this.delim.length);
        state.done = true;
        if (out.length > 0) yield out;
        return;
      }
      const keep = this.delim.length - 1;
      if (this.buf.length > keep) {
        const out = this.buf.subarray(0, this.buf.length - keep);
        this.buf = this.buf.subarray(this.buf.length - keep);
        yield out;
      }
      if (!(await this.more())) throw this.bad('truncated part body');
    }
  }
}

function parseHeaders(block: string): Map<string, string> {
  const m = new Map<string, string>();
  // The header block starts right after the delimiter line's CRLF (or transport padding before it).
  for (const line of block.split('\r\n')) {
    const c = line.indexOf(':');
    if (c <= 0) continue;
    m.set(line.slice(0, c).trim().toLowerCase(), line.slice(c + 1).trim());
  }
  return m;
}
