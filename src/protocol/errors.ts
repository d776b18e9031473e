// Typed errors of the protocol client: every failure above HTTP/XML surfaces as one of these, with a stable `code`
// and a `retryable` verdict that the retry policy (and the layers above) read instead of messages.
import { SpfsError } from '../shared/errors';

export const PROTOCOL_ERROR_CODES = {
  network: 'ENETWORK',
  auth: 'EAUTH',
  httpStatus: 'EHTTPSTATUS',
  notFound: 'EREMOTENOTFOUND',
  throttled: 'ETHROTTLED',
  protocol: 'EPROTOCOL',
  rangeNotSatisfiable: 'ERANGENOTSATISFIABLE',
} as const;

export type NetworkFailureKind = 'unreachable' | 'reset' | 'timeout' | 'other';

/** The server could not be reached, the connection broke, or it did not answer in time. */
export class NetworkError extends SpfsError {
  readonly retryable = true;
  readonly kind: NetworkFailureKind;
  constructor(message: string, kind: NetworkFailureKind, options?: { cause?: unknown }) {
    super(PROTOCOL_ERROR_CODES.network, message, options);
    this.kind = kind;
  }
}

export interface HttpErrorInfo {
  status: number;
  method: string;
  /** Request URL with the query string elided (see redactUrl). */
  url: string;
}

/** A non-success HTTP status. Subclasses narrow the meaning; 5xx (except 501/505) is retryable. */
export class HttpStatusError extends SpfsError {
  readonly retryable: boolean;
  readonly status: number;
  readonly method: string;
  readonly url: string;
  constructor(info: HttpErrorInfo, code: string = PROTOCOL_ERROR_CODES.httpStatus, detail?: string) {
    super(code, `${info.method} ${info.url} → HTTP ${info.status}${detail ? ` (${detail})` : ''}`);
    this.status = info.status;
    this.method = info.method;
    this.url = info.url;
    this.retryable = info.status >= 500 && info.status !== 501 && info.status !== 505;
  }
}

/** 401, or 403 without a form-digest challenge: credentials missing, wrong, or not allowed. Never retried. */
export class AuthError extends HttpStatusError {
  override readonly retryable = false;
  constructor(info: HttpErrorInfo) {
    super(info, PROTOCOL_ERROR_CODES.auth, info.status === 401 ? 'authentication failed' : 'access denied');
  }
}

/** 404: the site, library or item is gone. */
export class NotFoundError extends HttpStatusError {
  override readonly retryable = false;
  constructor(info: HttpErrorInfo) {
    super(info, PROTOCOL_ERROR_CODES.notFound, 'not found');
  }
}

/** 429 or 503: the server asks us to slow down, optionally saying for how long. */
export class ThrottledError extends HttpStatusError {
  override readonly retryable = true;
  /** Retry-After converted to milliseconds (uncapped), when the server sent a usable one. */
  readonly retryAfterMs: number | undefined;
  constructor(info: HttpErrorInfo, retryAfterMs: number | undefined) {
    super(
      info,
      PROTOCOL_ERROR_CODES.throttled,
      retryAfterMs === undefined ? 'throttled' : `retry after ${retryAfterMs} ms`,
    );
    this.retryAfterMs = retryAfterMs;
  }
}

/** 416: the requested byte range lies outside the resource. */
export class RangeNotSatisfiableError extends HttpStatusError {
  override readonly retryable = false;
  /** The resource size from `Content-Range: bytes *\/N`, when given. */
  readonly totalSize: number | undefined;
  constructor(info: HttpErrorInfo, totalSize: number | undefined) {
    super(info, PROTOCOL_ERROR_CODES.rangeNotSatisfiable, 'range not satisfiable');
    this.totalSize = totalSize;
  }
}

/** The server's answer can't be trusted: malformed or hostile XML/JSON, a missing element, a bad header. */
export class ProtocolError extends SpfsError {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(PROTOCOL_ERROR_CODES.protocol, message, options);
  }
}

/** Whether the retry policy may repeat an idempotent request after this error. */
export function isRetryable(err: unknown): boolean {
  return (err instanceof NetworkError || err instanceof HttpStatusError) && err.retryable;
}
