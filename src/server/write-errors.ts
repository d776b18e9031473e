// Why a write was refused, as the E8 `WriteStatus` vocabulary (digest §3.5) with the HTTP status a single-item
// request (DELETE Items/{R}, BITS) answers instead. One class, a stable code per status.
import { SpfsError } from '../shared/errors';
import type { WriteStatus } from '../shared/write-status';
import type { StoredItem } from './store';

export type { WriteStatus };

/** HTTP status of each refusal when it can't be reported per item. */
export const WRITE_STATUS_HTTP: Record<Exclude<WriteStatus, 'Success'>, number> = {
  Conflict: 412,
  NameConflict: 409,
  NotFound: 404,
  AccessDenied: 403,
  Locked: 423,
  QuotaExceeded: 507,
  InvalidName: 400,
  Failure: 400,
};

export class WriteRefusedError extends SpfsError {
  constructor(
    readonly status: Exclude<WriteStatus, 'Success'>,
    message: string,
    /** The server's current item (Conflict, NameConflict on an existing item, Locked). */
    readonly current?: StoredItem,
    /** Overrides WRITE_STATUS_HTTP (e.g. 413 for a file above MaxFileSize). */
    readonly httpStatus: number = WRITE_STATUS_HTTP[status],
  ) {
    super(`ESERVER_WRITE_${status.toUpperCase()}`, message);
  }
}
