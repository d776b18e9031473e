// The only code that touches the network: one undici Agent (keep-alive pool per origin), fixed auth and identity
// headers, bounded gzip-aware body reads, and the mapping of socket failures to NetworkError.
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import type { Logger } from '../../shared/logger';
import { noAuth, type AuthProvider } from '../auth/auth-provider';
import {
  localSourceChange,
  NetworkError,
  ProtocolError,
  TruncatedBodyError,
  type NetworkFailureKind,
} from '../errors';
import { headerValue, type HeaderMap } from '../headers';
import { MAX_BODY_BYTES } from '../xml/parser';
import { DirectGetClient } from './direct-get';
import { compiledWorkerScript, WorkerDownloads } from './worker-downloads';
import { redactUrl } from './redact';

const gunzipAsync = promisify(gunzip);

export const DEFAULT_CONNECTIONS = 8;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const KEEP_ALIVE_TIMEOUT_MS = 30_000;
/** How much of an error response body is drained so the connection can be reused. */
const ERROR_BODY_DRAIN_BYTES = 64 * 1024;

export interface TlsOptions {
  /** PEM of extra trusted CAs (a company CA), added to Node's defaults. */
  ca?: string | undefined;
  /** Skip certificate verification (the CLI prints a warning when this is on). */
  insecure?: boolean | undefined;
}

export interface TransportOptions {
  auth?: AuthProvider | undefined;
  /** NTLM: requests go through this connection-bound requester instead of the shared pool. */
  connectionAuth?: ConnectionAuth | undefined;
  userAgent: string;
  requestTimeoutMs: number;
  connections: number;
  machineId?: string | undefined;
  logger?: Logger | undefined;
  tls?: TlsOptions | undefined;
  /** Honour HTTP(S)_PROXY/NO_PROXY from the environment (default true). */
  useEnvProxy?: boolean | undefined;
  /** Downloads over the direct client (direct-get.ts) when no proxy or NTLM is in play (default true). */
  directDownloads?: boolean | undefined;
  /** ... run in the download worker (download-worker.ts) when it is built (default true). */
  downloadWorker?: boolean | undefined;
}

/** A request body: text, bytes, or a factory producing a fresh stream each time (so a request can be re-sent). */
export type RequestBody = string | Uint8Array | (() => AsyncIterable<Uint8Array> | Readable);

export interface HttpRequest {
  /** Default GET. */
  method?: string;
  url: URL;
  accept: string;
  /** Ask for gzip (API calls); downloads ask for identity so byte ranges mean file bytes. */
  gzip: boolean;
  headers?: Record<string, string>;
  body?: RequestBody | undefined;
  signal?: AbortSignal | undefined;
  /** Overrides the transport's headers/body idle timeout (long polls). */
  timeoutMs?: number | undefined;
  /** A file download (GET, body streamed in bulk): may go over the direct client. */
  bulk?: boolean | undefined;
}

/** A response body: undici's, or the direct client's (both Readables that can drain a bounded remainder). */
export interface ResponseBody extends Readable {
  dump(opts?: { limit?: number }): Promise<unknown>;
}

export interface HttpResponse {
  status: number;
  headers: HeaderMap;
  body: ResponseBody;
  /** Body chunks the consumer is done with may be given back for reuse (direct downloads only). */
  release?: ((chunks: readonly Uint8Array[]) => void) | undefined;
}

/** undici's request call, as used by the transport (pool or a connection-bound scheme). */
export type RawRequest = (opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/** A connection-bound auth scheme (NTLM): owns its connections and performs the handshake per connection. */
export interface ConnectionAuth {
  readonly scheme: 'ntlm';
  request(
    opts: Dispatcher.RequestOptions,
    makeBody: () => NonNullable<Dispatcher.RequestOptions['body']> | null,
  ): Promise<Dispatcher.ResponseData>;
  close(): Promise<void>;
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
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'truncated',
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'other',
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
  // The request body's own file changed: not the network's doing (and the server never got a whole request).
  const local = localSourceChange(err);
  if (local !== undefined) return local;
  const code = errorCode(err);
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    return new TruncatedBodyError(`${method} ${redactUrl(url)}: body shorter than its Content-Length`, {
      cause: err,
    });
  }
  const kind =
    code !== undefined && Object.hasOwn(SOCKET_CODES, code) ? (SOCKET_CODES[code] ?? 'other') : 'other';
  const what = {
    unreachable: 'unreachable',
    reset: 'connection reset',
    timeout: 'timed out',
    truncated: 'body shorter than its Content-Length',
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

/** undici `connect` options: verification on unless `insecure`; a company CA added to Node's roots. */
export function tlsConnectOptions(tls: TlsOptions | undefined, timeoutMs: number): Record<string, unknown> {
  return {
    timeout: timeoutMs,
    rejectUnauthorized: tls?.insecure !== true,
    ...(tls?.ca !== undefined ? { ca: [...rootCertificates, tls.ca] } : {}),
  };
}

export function hasEnvProxy(env: NodeJS.ProcessEnv = process.env): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((k) => (env[k] ?? '') !== '');
}

export class HttpTransport {
  private readonly agent: Dispatcher;
  private readonly fixedHeaders: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly auth: AuthProvider;
  private readonly connectionAuth: ConnectionAuth | undefined;
  private readonly direct: DirectGetClient | undefined;
  private readonly worker: WorkerDownloads | undefined;

  constructor(opts: TransportOptions) {
    const connect = tlsConnectOptions(opts.tls, opts.requestTimeoutMs);
    const agentOpts = { connections: opts.connections, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, connect };
    const proxied = opts.useEnvProxy !== false && hasEnvProxy();
    this.agent = proxied
      ? new EnvHttpProxyAgent({ ...agentOpts, requestTls: connect, proxyTls: connect })
      : new Agent(agentOpts);
    // Proxies and NTLM's connection-bound handshake stay with undici; everything else downloads directly.
    if (!proxied && opts.connectionAuth === undefined && opts.directDownloads !== false) {
      const directOpts = {
        connections: opts.connections,
        tls: connect,
        keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
      };
      const script = opts.downloadWorker === false ? undefined : compiledWorkerScript();
      if (script !== undefined) this.worker = new WorkerDownloads(script, directOpts);
      else this.direct = new DirectGetClient(directOpts);
    }
    this.timeoutMs = opts.requestTimeoutMs;
    this.logger = opts.logger;
    this.auth = opts.auth ?? noAuth;
    this.connectionAuth = opts.connectionAuth;
    this.fixedHeaders = {
      'user-agent': opts.userAgent,
      application: 'SkyDriveSync',
      'x-machineid': opts.machineId ?? randomUUID(),
    };
  }

  /** Whether downloads go over the direct client (direct-get.ts), in this thread or the download worker. */
  get directDownloads(): boolean {
    return this.direct !== undefined || this.worker !== undefined;
  }

  /** The scheme in use, for logs and error messages (never a secret). */
  get authScheme(): string {
    return this.connectionAuth?.scheme ?? this.auth.scheme;
  }

  /** After a 401: whether the auth source has fresh credentials worth one more try. */
  refreshAuth(): Promise<boolean> {
    return this.auth.refresh();
  }

  /** One GET. Resolves with any HTTP status; rejects only with NetworkError or the caller's abort reason. */
  get(req: HttpRequest): Promise<HttpResponse> {
    return this.send({ ...req, method: 'GET' });
  }

  /** One request of any method. Resolves with any HTTP status; rejects with NetworkError or the abort reason. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const method = req.method ?? 'GET';
    const started = Date.now();
    const makeBody = (): NonNullable<Dispatcher.RequestOptions['body']> | null => {
      const b = req.body;
      if (b === undefined) return null;
      if (typeof b === 'function') {
        const made = b();
        return made instanceof Readable ? made : Readable.from(made, { objectMode: false });
      }
      return typeof b === 'string' ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    };
    try {
      const headers: Record<string, string> = {
        ...this.fixedHeaders,
        accept: req.accept,
        'accept-encoding': req.gzip ? 'gzip' : 'identity',
        ...(await this.auth.headers()),
        ...req.headers,
      };
      const opts: Dispatcher.RequestOptions = {
        origin: req.url.origin,
        path: `${req.url.pathname}${req.url.search}`,
        method,
        headers,
        signal: req.signal ?? null,
        headersTimeout: req.timeoutMs ?? this.timeoutMs,
        bodyTimeout: req.timeoutMs ?? this.timeoutMs,
      };
      const bulk = req.bulk === true && method === 'GET' && req.body === undefined;
      const bulkClient = bulk ? (this.worker ?? this.direct) : undefined;
      if (bulkClient !== undefined) {
        const res: HttpResponse = await bulkClient.request({
          url: req.url,
          headers,
          signal: req.signal,
          timeoutMs: req.timeoutMs ?? this.timeoutMs,
        });
        this.logger?.debug({ url: redactUrl(req.url), status: res.status, ms: Date.now() - started }, method);
        // In-thread bodies are slab views the consumer may give back; the worker's bytes never leave the worker.
        const direct = this.direct;
        return direct === bulkClient ? { ...res, release: (chunks) => direct.release(chunks) } : res;
      }
      const res = this.connectionAuth
        ? await this.connectionAuth.request(opts, makeBody)
        : await this.agent.request<null>({ ...opts, body: makeBody() });
      this.logger?.debug(
        { url: redactUrl(req.url), status: res.statusCode, ms: Date.now() - started },
        method,
      );
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      throw toNetworkError(err, method, req.url, req.signal);
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
          throw new ProtocolError(`${redactUrl(url)}: response body larger than ${MAX_BODY_BYTES} bytes`);
        }
        chunks.push(buf);
      }
    } catch (err) {
      throw toNetworkError(err, 'GET', url, signal);
    }
    const declared = headerValue(res.headers, 'Content-Length');
    if (declared !== undefined && /^\d+$/.test(declared.trim()) && Number(declared.trim()) !== total) {
      throw new TruncatedBodyError(
        `${redactUrl(url)}: body of ${total} bytes, Content-Length said ${declared.trim()}`,
      );
    }
    let raw = Buffer.concat(chunks, total);
    const encoding = String(res.headers['content-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    if (encoding === 'gzip' || encoding === 'x-gzip') {
      try {
        raw = await gunzipAsync(raw, { maxOutputLength: MAX_BODY_BYTES });
      } catch (err) {
        throw new ProtocolError(`${redactUrl(url)}: bad or oversized gzip body`, { cause: err });
      }
    } else if (encoding !== 'identity' && encoding !== '') {
      throw new ProtocolError(`${redactUrl(url)}: unsupported Content-Encoding ${encoding.slice(0, 20)}`);
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
    await Promise.all([
      this.agent.close(),
      this.connectionAuth?.close(),
      this.direct?.close(),
      this.worker?.close(),
    ]);
  }
}
