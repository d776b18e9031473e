// A small HTTP/1.1 GET client for file downloads only, over keep-alive sockets that read straight into recycled
// buffers (net/tls `onread`, slab-pool.ts). undici reads every 64 KiB into a fresh ArrayBuffer and copies it into its
// WASM parser; at loopback speed that churn was most of a cold read's CPU (docs/BENCHMARKS.md). API calls, uploads,
// proxied and NTLM connections keep using undici (transport.ts decides).
import net from 'node:net';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import { types } from 'node:util';
import type { HeaderMap } from '../headers';
import { Http1ResponseParser, type ResponseHead } from './http1-response-parser';
import { SlabPool, type Slab } from './slab-pool';

export interface DirectGetOptions {
  /** Connections per origin (requests beyond wait for one). */
  connections: number;
  /** TLS options for https origins (`tlsConnectOptions`). */
  tls: tls.ConnectionOptions;
  /** Idle keep-alive connections are closed after this long (or the server's Keep-Alive timeout, if shorter). */
  keepAliveTimeoutMs: number;
}

export interface DirectGetRequest {
  url: URL;
  headers: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Until the head arrives, and then the longest silence while the body is being read. */
  timeoutMs: number;
}

export interface DirectGetResponse {
  status: number;
  headers: HeaderMap;
  body: DirectBody;
}

/** A failure shaped like undici's (a `code`), so toNetworkError() maps both alike. */
function socketError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function asError(x: unknown): Error {
  // isNativeError: an error made in another realm (Node's own errors seen from a vm context, as under jest) keeps
  // its identity and `code` instead of being wrapped into a code-less Error.
  return x instanceof Error || types.isNativeError(x) ? x : new Error(String(x));
}

/** The response body: a byte stream of slab views, paused at the socket when the consumer falls behind. */
export class DirectBody extends Readable {
  constructor(private readonly onRead: () => void) {
    super({ highWaterMark: 4 * 1024 * 1024 });
  }

  override _read(): void {
    this.onRead();
  }

  /** Reads and drops at most `limit` bytes (so the connection can be reused), as undici's body.dump(). */
  async dump(opts: { limit?: number } = {}): Promise<void> {
    const limit = opts.limit ?? 128 * 1024;
    let seen = 0;
    try {
      for await (const chunk of this) {
        seen += (chunk as Uint8Array).length;
        if (seen > limit) break;
      }
    } finally {
      if (!this.readableEnded) this.destroy();
    }
  }
}

/** One exchange on one connection: the parser's sink, feeding the body and settling the request. */
class Exchange {
  head: ResponseHead | undefined;
  readonly body: DirectBody;
  ended = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly conn: Connection,
    private readonly resolve: (r: DirectGetResponse) => void,
    readonly reject: (err: unknown) => void,
    readonly timeoutMs: number,
  ) {
    this.body = new DirectBody(() => conn.resumeReading());
    this.timer = setTimeout(
      () => conn.fail(socketError('response head timed out', 'UND_ERR_HEADERS_TIMEOUT')),
      timeoutMs,
    );
  }

  onHead(head: ResponseHead): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.head = head;
    this.conn.watchIdle(this.timeoutMs);
    this.resolve({ status: head.status, headers: head.headers, body: this.body });
  }

  onBody(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.conn.pool.lend(chunk);
    if (!this.body.push(chunk)) this.conn.pauseReading();
  }

  onEnd(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.body.push(null);
  }

  fail(err: unknown): void {
    clearTimeout(this.timer);
    if (this.head === undefined) this.reject(err);
    else if (!this.ended) this.body.destroy(asError(err));
  }
}

class Connection {
  readonly socket: net.Socket;
  private slab: Slab;
  private parser: Http1ResponseParser | undefined;
  private exchange: Exchange | undefined;
  /** Requests served; a failure before the first byte of a reused connection's answer is retried. */
  served = 0;
  closed = false;
  keepAliveMs: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private paused = false;

  constructor(
    readonly origin: string,
    url: URL,
    readonly pool: SlabPool,
    tlsOptions: tls.ConnectionOptions,
    keepAliveMs: number,
    private readonly onFree: (c: Connection) => void,
    private readonly onClose: (c: Connection) => void,
  ) {
    this.keepAliveMs = keepAliveMs;
    this.slab = pool.acquire();
    const onread = {
      buffer: () => this.slab.tail(),
      callback: (n: number, buf: Uint8Array) => this.onBytes(n, buf),
    };
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const host = url.hostname.replace(/^\[|\]$/g, '');
    this.socket =
      url.protocol === 'https:'
        ? tls.connect({
            ...tlsOptions,
            host,
            port,
            servername: net.isIP(host) ? undefined : host,
            onread,
          } as tls.ConnectionOptions)
        : net.connect({ host, port, onread });
    // tls.connect arms the options' `timeout` (undici's connect timeout, from tlsConnectOptions) as an idle timeout,
    // which would end a head wait as a body timeout: the exchange's own timers govern instead.
    this.socket.setTimeout(0);
    this.socket.setNoDelay(true);
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('end', () => this.onEof());
    this.socket.on('close', () => this.onSocketClose());
    this.socket.on('timeout', () =>
      this.fail(socketError('response body timed out', 'UND_ERR_BODY_TIMEOUT')),
    );
  }

  get busy(): boolean {
    return this.exchange !== undefined;
  }

  send(req: DirectGetRequest, exchange: Exchange): void {
    clearTimeout(this.idleTimer);
    this.exchange = exchange;
    this.paused = false;
    this.parser = new Http1ResponseParser(exchange);
    const lines = [`GET ${req.url.pathname}${req.url.search} HTTP/1.1`, `host: ${req.url.host}`];
    for (const [k, v] of Object.entries(req.headers)) lines.push(`${k}: ${v}`);
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    this.socket.resume();
  }

  /** True when a failure of the current exchange may be retried on a fresh connection (nothing was answered). */
  get retryable(): boolean {
    return this.served > 0 && this.parser?.started !== true;
  }

  watchIdle(timeoutMs: number): void {
    this.socket.setTimeout(timeoutMs);
  }

  pauseReading(): void {
    if (this.paused || this.closed) return;
    this.paused = true;
    this.socket.setTimeout(0); // a consumer that is behind is not a silent server
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    if (this.exchange) this.socket.setTimeout(this.exchange.timeoutMs);
    this.socket.resume();
  }

  fail(err: unknown): void {
    const ex = this.exchange;
    this.exchange = undefined;
    this.destroy();
    ex?.fail(err);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.socket.destroy();
    this.pool.retire(this.slab);
    this.onClose(this);
  }

  private onBytes(n: number, buf: Uint8Array): boolean {
    const view = buf.subarray(0, n);
    const ex = this.exchange;
    const parser = this.parser;
    if (ex === undefined || parser === undefined) {
      this.fail(socketError('server sent bytes nobody asked for', 'UND_ERR_SOCKET'));
      return false;
    }
    let used: number;
    try {
      used = parser.feed(view);
    } catch (err) {
      this.fail(err);
      return false;
    }
    // Only now, with this read's body chunks lent: a full slab must not be recycled under them.
    this.slab = this.pool.advance(this.slab, n);
    if (parser.done) this.finishExchange(ex, used < view.length);
    return !this.paused;
  }

  private finishExchange(ex: Exchange, extraBytes: boolean): void {
    this.exchange = undefined;
    this.parser = undefined;
    this.served++;
    this.socket.setTimeout(0);
    const hint = keepAliveHintMs(ex.head?.headers);
    if (hint !== undefined) this.keepAliveMs = Math.min(this.keepAliveMs, hint);
    if (ex.head?.keepAlive !== true || extraBytes || this.keepAliveMs <= 0) {
      this.destroy();
      return;
    }
    this.idleTimer = setTimeout(() => this.destroy(), this.keepAliveMs);
    this.idleTimer.unref();
    this.onFree(this);
  }

  private onEof(): void {
    const ex = this.exchange;
    const parser = this.parser;
    if (ex !== undefined && parser !== undefined) {
      if (ex.head === undefined) {
        // Closed before (all of) the head: a socket failure, as undici reports it (retryable), not a bad answer.
        this.fail(socketError('other side closed before the response head', 'UND_ERR_SOCKET'));
        return;
      }
      try {
        parser.finish();
        if (parser.done) this.finishExchange(ex, false);
      } catch (err) {
        this.fail(err);
        return;
      }
    }
    this.destroy();
  }

  private onSocketClose(): void {
    if (this.exchange !== undefined) this.fail(socketError('connection closed', 'UND_ERR_SOCKET'));
    this.destroy();
  }
}

/** `Keep-Alive: timeout=N` less a second of margin (undici does the same), in ms. */
function keepAliveHintMs(headers: HeaderMap | undefined): number | undefined {
  const raw = headers?.['keep-alive'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  const m = /(?:^|[,\s])timeout=(\d{1,6})/i.exec(value ?? '');
  return m ? Number(m[1]) * 1000 - 1000 : undefined;
}

const FORBIDDEN_HEADER_VALUE = /[\r\n\0]/;

export class DirectGetClient {
  readonly pool = new SlabPool();
  private readonly idle = new Map<string, Connection[]>();
  private readonly open = new Map<string, Set<Connection>>();
  private readonly waiting = new Map<string, Array<() => void>>();
  private closing = false;

  constructor(private readonly opts: DirectGetOptions) {}

  /** Sends a GET; resolves at the response head. Rejects with socket-shaped errors or the caller's abort reason. */
  async request(req: DirectGetRequest): Promise<DirectGetResponse> {
    for (const [k, v] of Object.entries(req.headers)) {
      if (FORBIDDEN_HEADER_VALUE.test(v) || FORBIDDEN_HEADER_VALUE.test(k))
        throw new TypeError(`header ${JSON.stringify(k.slice(0, 40))} holds a line break`);
    }
    for (let attempt = 0; ; attempt++) {
      req.signal?.throwIfAborted();
      const conn = await this.connection(req.url, req.signal);
      try {
        return await this.exchange(conn, req);
      } catch (err) {
        // A keep-alive connection the server had closed: resend once on a fresh one (a GET is safe to repeat).
        if (attempt === 0 && conn.retryable && !req.signal?.aborted) continue;
        throw err;
      }
    }
  }

  /** Gives the bytes of these chunks back for reuse (the consumer has written them). */
  release(chunks: readonly Uint8Array[]): void {
    this.pool.release(chunks);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const set of this.open.values()) for (const c of [...set]) c.destroy();
    for (const list of this.waiting.values()) for (const w of list) w();
    this.waiting.clear();
    await Promise.resolve();
  }

  private exchange(conn: Connection, req: DirectGetRequest): Promise<DirectGetResponse> {
    return new Promise<DirectGetResponse>((resolve, reject) => {
      const signal = req.signal;
      const ex: Exchange = new Exchange(
        conn,
        (r) => {
          resolve(r);
          r.body.once('close', () => signal?.removeEventListener('abort', onAbort));
        },
        (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(asError(err));
        },
        req.timeoutMs,
      );
      // Once the answer has been read the connection may serve someone else: an abort then ends the body only.
      const onAbort = (): void => {
        const reason: unknown = signal?.reason ?? new Error('aborted');
        if (ex.ended) ex.body.destroy(asError(reason));
        else conn.fail(reason);
      };
      ex.body.once('close', () => {
        if (!ex.ended) conn.fail(socketError('body abandoned', 'UND_ERR_ABORTED'));
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      conn.send(req, ex);
    });
  }

  private async connection(url: URL, signal: AbortSignal | undefined): Promise<Connection> {
    const origin = url.origin;
    for (;;) {
      if (this.closing) throw socketError('client closed', 'UND_ERR_CLOSED');
      const idle = this.idle.get(origin);
      let conn = idle?.pop();
      while (conn !== undefined && conn.closed) conn = idle?.pop();
      if (conn !== undefined) return conn;
      const open = this.open.get(origin) ?? new Set<Connection>();
      this.open.set(origin, open);
      if (open.size < this.opts.connections) {
        const c = new Connection(
          origin,
          url,
          this.pool,
          this.opts.tls,
          this.opts.keepAliveTimeoutMs,
          (free) => this.onFree(free),
          (gone) => this.onGone(gone),
        );
        open.add(c);
        return c;
      }
      await new Promise<void>((resolve, reject) => {
        const list = this.waiting.get(origin) ?? [];
        this.waiting.set(origin, list);
        const onAbort = (): void => {
          list.splice(list.indexOf(wake), 1);
          reject(asError(signal?.reason));
        };
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        list.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  private onFree(conn: Connection): void {
    const list = this.idle.get(conn.origin) ?? [];
    this.idle.set(conn.origin, list);
    list.push(conn);
    this.waiting.get(conn.origin)?.shift()?.();
  }

  private onGone(conn: Connection): void {
    this.open.get(conn.origin)?.delete(conn);
    const idle = this.idle.get(conn.origin);
    if (idle) {
      const i = idle.indexOf(conn);
      if (i >= 0) idle.splice(i, 1);
    }
    this.waiting.get(conn.origin)?.shift()?.();
  }
}
