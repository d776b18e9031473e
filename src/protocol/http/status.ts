// Maps a non-success HTTP status to the typed error the layers above act on.
import {
  AuthError,
  HttpStatusError,
  NotFoundError,
  RangeNotSatisfiableError,
  ThrottledError,
  type HttpErrorInfo,
} from '../errors';
import { headerValue, type HeaderMap } from '../headers';
import { parseRetryAfter } from './retry';

export function errorForStatus(info: HttpErrorInfo, headers: HeaderMap, nowMs: number): HttpStatusError {
  const { status } = info;
  if (status === 401 || status === 403) return new AuthError(info);
  if (status === 404 || status === 410) return new NotFoundError(info);
  if (status === 429 || status === 503) {
    return new ThrottledError(info, parseRetryAfter(headerValue(headers, 'Retry-After'), nowMs));
  }
  if (status === 416) {
    const m = /^bytes \*\/(\d+)$/.exec(headerValue(headers, 'Content-Range')?.trim() ?? '');
    return new RangeNotSatisfiableError(info, m ? Number(m[1]) : undefined);
  }
  return new HttpStatusError(info);
}
