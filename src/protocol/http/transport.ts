// The only code that touches the network: one undici Agent (keep-alive pool per origin), fixed auth and identity
// headers, bounded gzip-aware body reads, and the mapping of socket failures to NetworkError.
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from '../../shared/logger';
import { NetworkError, ProtocolError, type NetworkFailureKind } from '../errors';
import type { HeaderMap } from '../headers';
import { MAX_BODY_BYTES } from '../xml/parser';
import { redactUrl } from './redact';

const gunzipAsync = promisify(gunzip);

export const DEFAULT_CONNECTIONS = 8;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const KEEP_ALIVE_TIMEOUT_MS = 30_000;
/** How much of an error response body is drained so the connection can be reused. */
const ERROR_BODY_DRAIN_BYTES = 64 * 1024;

export interface TransportOptions {
  credentials?: { user: string; password: string } | undefined;
  userAgent: string;
  requestTimeoutMs: number;
  connections: number;
  machineId?: string | undefined;
  logger?: Logger | undefined;
}

export interface HttpRequest {
  url: URL;
  accept: string;
  /** Ask for gzip (API calls); downloads ask for identity so byte ranges mean file bytes. */
  gzip: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  status: number;
  headers: HeaderMap;
  body: Dispatcher.ResponseData['body'];
}

const SOCKET_CODES: Record<string, NetworkFailureKind> = {
  ECONNREFUSED: 'unreachable',
  ENOTFOUND: 'unreachable',
  EAI_AGAIN: 'unreachable',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  ECONNRESET: 'reset',
  EPIPE: 'reset',
  UND_ERR_SOCKET: 'reset',
  UND_ERR_CLOSED: 'reset',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ETIMEDOUT: 'timeout',
};

function errorCode(err: unknown): string | undefined {
  // undici wraps socket errors (a cause, or an AggregateError for multi-address connects): prefer a known code.
  const e = err as
    { code?: unknown; cause?: { code?: unknown }; errors?: Array<{ code?: unknown }> } | undefined;
  const candidates = [
    e?.code,
    e?.cause?.code,
    ...(Array.isArray(e?.errors) ? e.errors.map((x) => x?.code) : []),
  ];
  const codes = candidates.filter((c): c is string => typeof c === 'string');
  return codes.find((c) => Object.hasOwn(SOCKET_CODES, c)) ?? codes[0];
}

/** A failure while sending or reading: the caller's abort passes through untouched, the rest is NetworkError. */
export function toNetworkError(err: unknown, method: string, url: URL, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason ?? err;
  if (err instanceof NetworkError || err instanceof ProtocolError) return err;
  const code = errorCode(err);
  const kind =
    code !== undefined && Object.hasOwn(SOCKET_CODES, code) ? (SOCKET_CODES[code] ?? 'other') : 'other';
  const what = {
    unreachable: 'unreachable',
    reset: 'connection reset',
    timeout: 'timed out',
    other: 'failed',
  }[kind];
  return new NetworkError(`${method} ${redactUrl(url)}: ${what}${code ? ` (${code})` : ''}`, kind, {
    cause: err,
  });
}

/** Destroys a body we abandon; undici then emits an abort error that nobody needs to hear. */
export function destroyBody(body: HttpResponse['body']): void {
  if (body.destroyed) return;
  body.on('error', () => undefined);
  body.destroy();
}

export class HttpTransport {
  private readonly agent: Agent;
  private readonly fixedHeaders: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;

  constructor(opts: TransportOptions) {
    this.agent = new Agent({
      connections: opts.connections,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      connect: { timeout: opts.requestTimeoutMs },
    });
    this.timeoutMs = opts.requestTimeoutMs;
    this.logger = opts.logger;
    this.fixedHeaders = {
      'user-agent': opts.userAgent,
      application: 'SkyDriveSync',
      'x-machineid': opts.machineId ?? randomUUID(),
    };
    if (opts.credentials) {
      // Built once; never logged (errors carry only the method and a redacted URL).
      const token = Buffer.from(`${opts.credentials.user}:${opts.credentials.password}`, 'utf8').toString(
        'base64',
      );
      this.fixedHeaders.authorization = `Basic ${token}`;
    }
  }

  /** One GET. Resolves with any HTTP status; rejects only with NetworkError or the caller's abort reason. */
  async get(req: HttpRequest): Promise<HttpResponse> {
    const started = Date.now();
    try {
      const res = await this.agent.request({
        origin: req.url.origin,
        path: `${req.url.pathname}${req.url.search}`,
        method: 'GET',
        headers: {
          ...this.fixedHeaders,
          accept: req.accept,
          'accept-encoding': req.gzip ? 'gzip' : 'identity',
          ...req.headers,
        },
        signal: req.signal ?? null,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      this.logger?.debug(
        { url: redactUrl(req.url), status: res.statusCode, ms: Date.now() - started },
        'GET',
      );
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      throw toNetworkError(err, 'GET', req.url, req.signal);
    }
  }

  /** Reads a whole (API) body: at most MAX_BODY_BYTES on the wire and after gunzip, decoded as UTF-8. */
  async readText(res: HttpResponse, url: URL, signal?: AbortSignal): Promise<string> {
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        total += buf.length;
        if (total > MAX_BODY_BYTES) {
          destroyBody(res.body);
          throw new ProtocolError(`GET ${redactUrl(url)}: response body larger than ${MAX_BODY_BYTES} bytes`);
        }
        chunks.push(buf);
      }
    } catch (err) {
      throw toNetworkError(err, 'GET', url, signal);
    }
    let raw = Buffer.concat(chunks, total);
    const encoding = String(res.headers['content-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    if (encoding === 'gzip' || encoding === 'x-gzip') {
      try {
        raw = await gunzipAsync(raw, { maxOutputLength: MAX_BODY_BYTES });
      } catch (err) {
        throw new ProtocolError(`GET ${redactUrl(url)}: bad or oversized gzip body`, { cause: err });
      }
    } else if (encoding !== 'identity' && encoding !== '') {
      throw new ProtocolError(`GET ${redactUrl(url)}: unsupported Content-Encoding ${encoding.slice(0, 20)}`);
    }
    return raw.toString('utf8');
  }

  /** Drains (a bounded part of) a body we won't use, so the keep-alive connection returns to the pool. */
  async discard(res: HttpResponse): Promise<void> {
    try {
      await res.body.dump({ limit: ERROR_BODY_DRAIN_BYTES });
    } catch {
      // The connection is dropped instead; nothing else to do.
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
