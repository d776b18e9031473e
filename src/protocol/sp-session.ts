// The request core every operation goes through: the global pacer, auth refresh after a 401, the X-RequestDigest
// dance, same-origin redirects for GETs, server-state tracking (health score, read-only), typed status errors and
// retries — automatic only for idempotent requests.
import type { Clock } from '../shared/clock';
import type { Logger } from '../shared/logger';
import { ProtocolError, ReadOnlyError, ThrottledError, type HttpStatusError } from './errors';
import { FormDigestCache } from './form-digest';
import { headerValue, type HeaderMap } from './headers';
import type { Pacer, RequestPriority } from './http/pacer';
import { redactUrl } from './http/redact';
import { MAX_RETRY_AFTER_MS, withRetry } from './http/retry';
import { errorForStatus } from './http/status';
import type { HttpResponse, HttpTransport, RequestBody } from './http/transport';
import type { Reachability } from './reachability';
import type { ServerState } from './types';
import { decodeContextInfo, validDigest } from './xml/context-info';

export const XML_ACCEPT = 'application/web3s+xml';
export const JSON_ACCEPT = 'application/json;odata=verbose';
/** Same-origin redirects followed per GET. */
export const MAX_REDIRECTS = 5;

export interface SpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: URL;
  accept: string;
  what: string;
  headers?: Record<string, string>;
  body?: RequestBody | undefined;
  signal?: AbortSignal | undefined;
  priority?: RequestPriority | undefined;
  /** State-changing: carries X-RequestDigest and gets one retry on a 403 that brings a fresh digest. */
  digest?: boolean;
  /** Safe to repeat after a failure (GETs always are). */
  idempotent?: boolean;
  /** Statuses besides 2xx handed back instead of thrown. */
  okStatuses?: readonly number[];
  gzip?: boolean;
  timeoutMs?: number | undefined;
  /** A file download (see HttpRequest.bulk). */
  bulk?: boolean | undefined;
}

export interface TextResponse {
  status: number;
  headers: HeaderMap;
  text: string;
}

export interface SessionDeps {
  transport: HttpTransport;
  clock: Clock;
  logger: Logger | undefined;
  random: (() => number) | undefined;
  pacer: Pacer;
  /** The mount's online state: hears every failed attempt, and ends retries while the server is known gone. */
  reachability: Reachability;
}

/** Parses `X-SP-SERVERSTATE: ReadOnly=1` (other keys ignored); undefined when the header says nothing. */
export function parseServerState(raw: string | undefined): boolean | undefined {
  const m = /(?:^|[;,\s])ReadOnly\s*=\s*([01])/i.exec(raw ?? '');
  return m ? m[1] === '1' : undefined;
}

export class SpSession {
  readonly deps: SessionDeps;
  readonly siteUrl: string;
  readonly digests: FormDigestCache;
  private state: ServerState = { readOnly: false, healthScore: undefined };
  private readonly listeners = new Set<(s: ServerState) => void>();

  constructor(siteUrl: string, deps: SessionDeps) {
    this.siteUrl = siteUrl;
    this.deps = deps;
    this.digests = new FormDigestCache(deps.clock, async () => {
      const res = await this.text({
        method: 'POST',
        url: new URL(`${siteUrl}/_api/contextinfo`),
        accept: JSON_ACCEPT,
        what: 'contextinfo',
        body: '',
        idempotent: true,
      });
      return decodeContextInfo(res.text);
    });
  }

  get serverState(): ServerState {
    return { ...this.state };
  }

  onServerState(listener: (s: ServerState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A request whose body is read whole; retried when idempotent. */
  text(req: SpRequest): Promise<TextResponse> {
    return this.retrying(req, async () => {
      const res = await this.response(req);
      return {
        status: res.status,
        headers: res.headers,
        text: await this.deps.transport.readText(res, req.url, req.signal),
      };
    });
  }

  /** A request whose body the caller streams; retried when idempotent (only until the headers arrive). */
  stream(req: SpRequest): Promise<HttpResponse> {
    return this.retrying(req, () => this.response(req));
  }

  /** Whether a retry loop should repeat a request now (false while the server is known to be unreachable). */
  mayRetry(): boolean {
    return this.deps.reachability.online;
  }

  /** Reports a failed attempt at once (before any retry): a refused or reset connection is news for every caller. */
  reportFailure(err: unknown, signal?: AbortSignal): void {
    if (signal?.aborted !== true) this.deps.reachability.reportFailure(err);
  }

  private retrying<T>(req: SpRequest, op: () => Promise<T>): Promise<T> {
    const { clock, logger, random } = this.deps;
    const observed = (): Promise<T> =>
      op().catch((err: unknown) => {
        this.reportFailure(err, req.signal);
        throw err;
      });
    if (req.method !== 'GET' && req.idempotent !== true) return observed();
    const mayRetry = (): boolean => this.mayRetry();
    return withRetry(observed, { clock, logger, random, signal: req.signal, what: req.what, mayRetry });
  }

  /** One logical attempt: a 2xx (or okStatuses) response, or a typed error. */
  async response(req: SpRequest): Promise<HttpResponse> {
    const { transport, clock } = this.deps;
    let url = req.url;
    let authRetried = false;
    let digestRetried = false;
    for (let redirects = 0; ;) {
      const headers: Record<string, string> = { ...req.headers };
      if (req.digest) headers['x-requestdigest'] = await this.digests.get();
      if (req.body !== undefined && headers['content-type'] === undefined)
        headers['content-type'] = 'text/xml';
      await this.deps.pacer.acquire(req.priority ?? 'foreground', req.signal);
      const res = await transport.send({
        method: req.method,
        url,
        accept: req.accept,
        gzip: req.gzip ?? true,
        headers,
        body: req.body,
        signal: req.signal,
        timeoutMs: req.timeoutMs,
        bulk: req.bulk,
      });
      this.observe(res.headers);
      const { status } = res;
      if ((status >= 200 && status < 300) || req.okStatuses?.includes(status)) {
        this.deps.pacer.onSuccess();
        return res;
      }
      const fresh = validDigest(headerValue(res.headers, 'X-RequestDigest'));
      if (status === 403 && req.digest && fresh !== undefined && !digestRetried) {
        digestRetried = true;
        this.digests.set(fresh);
        await transport.discard(res);
        continue;
      }
      if (status === 401 && !authRetried) {
        authRetried = true;
        await transport.discard(res);
        if (await transport.refreshAuth()) continue;
      } else if (req.method === 'GET' && status >= 300 && status < 400 && status !== 304) {
        const next = this.redirectTarget(url, headerValue(res.headers, 'Location'));
        await transport.discard(res);
        if (++redirects > MAX_REDIRECTS)
          throw new ProtocolError(`${req.what}: more than ${MAX_REDIRECTS} redirects`);
        url = next;
        continue;
      } else {
        await transport.discard(res);
      }
      throw this.statusError(req, url, status, res.headers, clock.now());
    }
  }

  private statusError(
    req: SpRequest,
    url: URL,
    status: number,
    headers: HeaderMap,
    now: number,
  ): HttpStatusError {
    const info = { status, method: req.method, url: redactUrl(url) };
    if (req.method !== 'GET' && (status === 403 || status === 503) && this.state.readOnly) {
      return new ReadOnlyError(info);
    }
    const err = errorForStatus(info, headers, now);
    if (err instanceof ThrottledError) {
      this.deps.pacer.onThrottled(
        err.retryAfterMs === undefined ? undefined : Math.min(err.retryAfterMs, MAX_RETRY_AFTER_MS),
      );
    }
    return err;
  }

  private redirectTarget(from: URL, location: string | undefined): URL {
    let next: URL;
    try {
      next = new URL(location ?? '', from);
    } catch (err) {
      throw new ProtocolError(`redirect from ${redactUrl(from)} has an invalid Location`, { cause: err });
    }
    if (location === undefined || next.origin !== from.origin || next.username || next.password) {
      throw new ProtocolError(`redirect from ${redactUrl(from)} leaves the origin (not followed)`);
    }
    return next;
  }

  private observe(headers: HeaderMap): void {
    const readOnly = parseServerState(headerValue(headers, 'X-SP-SERVERSTATE'));
    const rawHealth = headerValue(headers, 'X-SharePointHealthScore')?.trim();
    const health = rawHealth !== undefined && /^\d{1,2}$/.test(rawHealth) ? Number(rawHealth) : undefined;
    if (health !== undefined) this.deps.pacer.onHealthScore(health);
    const next: ServerState = {
      readOnly: readOnly ?? this.state.readOnly,
      healthScore: health ?? this.state.healthScore,
    };
    if (next.readOnly !== this.state.readOnly || next.healthScore !== this.state.healthScore) {
      this.state = next;
      for (const l of this.listeners) l({ ...next });
    }
  }
}
