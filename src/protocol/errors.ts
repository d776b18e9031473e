// Typed errors of the protocol client: every failure above HTTP/XML surfaces as one of these, with a stable `code`
// and a `retryable` verdict that the retry policy (and the layers above) read instead of messages.
import { SpfsError } from '../shared/errors';
import type { RemoteItem } from './types';

export const PROTOCOL_ERROR_CODES = {
  network: 'ENETWORK',
  auth: 'EAUTH',
  httpStatus: 'EHTTPSTATUS',
  notFound: 'EREMOTENOTFOUND',
  throttled: 'ETHROTTLED',
  protocol: 'EPROTOCOL',
  rangeNotSatisfiable: 'ERANGENOTSATISFIABLE',
  truncated: 'ETRUNCATED',
  writeRejected: 'EWRITEREJECTED',
  readOnly: 'EREADONLY',
  subscriptionGone: 'ESUBSCRIPTIONGONE',
  changedDuringDownload: 'ECHANGEDDURINGDOWNLOAD',
  uploadSession: 'EUPLOADSESSION',
  localSourceChanged: 'ELOCALSOURCECHANGED',
} as const;

export type NetworkFailureKind = 'unreachable' | 'reset' | 'timeout' | 'truncated' | 'other';

/** The server could not be reached, the connection broke, or it did not answer in time. */
export class NetworkError extends SpfsError {
  readonly retryable = true;
  readonly kind: NetworkFailureKind;
  constructor(
    message: string,
    kind: NetworkFailureKind,
    options?: { cause?: unknown },
    code: string = PROTOCOL_ERROR_CODES.network,
  ) {
    super(code, message, options);
    this.kind = kind;
  }
}

/** A body ended before its Content-Length (or the requested range) was complete. Retryable (a download resumes). */
export class TruncatedBodyError extends NetworkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'truncated', options, PROTOCOL_ERROR_CODES.truncated);
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

/** The site is read-only (`X-SP-SERVERSTATE: ReadOnly=1`): writes are refused until it is writable again. */
export class ReadOnlyError extends HttpStatusError {
  override readonly retryable = false;
  constructor(info: HttpErrorInfo) {
    super(info, PROTOCOL_ERROR_CODES.readOnly, 'site is read-only');
  }
}

/** A subscription or its channel is unknown or expired (404): create a new one. */
export class SubscriptionGoneError extends HttpStatusError {
  override readonly retryable = false;
  constructor(info: HttpErrorInfo) {
    super(info, PROTOCOL_ERROR_CODES.subscriptionGone, 'subscription gone');
  }
}

/** A resumed download found a different version (If-Range failed): start over from the new item. */
export class ChangedDuringDownloadError extends SpfsError {
  readonly retryable = false;
  constructor(message: string) {
    super(PROTOCOL_ERROR_CODES.changedDuringDownload, message);
  }
}

/**
 * The local file an upload reads was written, truncated, replaced or removed while it was hashed or sent: what went
 * out is not one version of it, so the request is given up before the server could commit it (never a lost reply,
 * never an outage). The uploader sends the file again once it is quiet.
 */
export class LocalSourceChangedError extends SpfsError {
  readonly retryable = false;
  constructor(path: string, what: string, options?: { cause?: unknown }) {
    super(
      PROTOCOL_ERROR_CODES.localSourceChanged,
      `upload source ${path} ${what} while it was sent`,
      options,
    );
  }
}

/** The LocalSourceChangedError anywhere in `err`'s cause chain (a request body's failure comes wrapped). */
export function localSourceChange(err: unknown): LocalSourceChangedError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++)
    if (e instanceof LocalSourceChangedError) return e;
  return undefined;
}

/** A BITS upload session failed in a way a resend can't fix (unknown session, refused fragment). */
export class UploadSessionError extends SpfsError {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(PROTOCOL_ERROR_CODES.uploadSession, message, options);
  }
}

/** A write the server refused with a per-item WriteStatus (Conflict, NameConflict, NotFound, Locked, ...). */
export class WriteRejectedError extends SpfsError {
  readonly retryable = false;
  constructor(
    readonly op: string,
    readonly status: string,
    /** The server's current item, when it sent one (Conflict: the version to merge with). */
    readonly current: RemoteItem | undefined,
    detail?: string,
  ) {
    super(PROTOCOL_ERROR_CODES.writeRejected, `${op} refused: ${status}${detail ? ` (${detail})` : ''}`);
  }
}

/** Whether the retry policy may repeat an idempotent request after this error. */
export function isRetryable(err: unknown): boolean {
  if (certificateFailure(err) !== undefined) return false; // the same certificate fails the same way again
  return (err instanceof NetworkError || err instanceof HttpStatusError) && err.retryable;
}

/** OpenSSL's verification failures, as Node's TLS errors carry them in `code`. */
const CERTIFICATE_FAILURES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The certificate verification failure behind an error (its code, searched along the causes), if any. */
export function certificateFailure(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === 'string' && CERTIFICATE_FAILURES.has(code)) return code;
  }
  return undefined;
}
