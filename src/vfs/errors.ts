// The one table that turns any error from the layers below into an errno name. docs/SEMANTICS.md lists it too;
// test/vfs/errors.test.ts keeps the two in step.
import { PROTOCOL_ERROR_CODES as P } from '../protocol/errors';
import { SpfsError } from '../shared/errors';

export type ErrnoName =
  | 'ENOENT'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'EROFS'
  | 'EIO'
  | 'EACCES'
  | 'EBADF'
  | 'EINVAL'
  | 'ENAMETOOLONG'
  | 'ENOTEMPTY'
  | 'ENETUNREACH'
  | 'ETIMEDOUT'
  // an inode the kernel still holds whose item is gone (replaced by a rename-over, deleted): the kernel looks the
  // path up again and retries (open, stat, truncate ... retry once on ESTALE with LOOKUP_REVAL)
  | 'ESTALE'
  | 'ENOSPC'
  // a write or truncate past the largest file the cache folder's filesystem can hold
  | 'EFBIG'
  | 'EEXIST'
  | 'EBUSY'
  | 'EPERM'
  // extended attributes: no such attribute, a name spfs does not serve, a caller's buffer too small
  | 'ENODATA'
  | 'ENOTSUP'
  | 'ERANGE';

/** An error the filesystem raises itself, already carrying its errno. */
export class FsError extends SpfsError {
  readonly errno: ErrnoName;
  constructor(errno: ErrnoName, message: string, options?: { cause?: unknown }) {
    super(`FS_${errno}`, message, options);
    this.errno = errno;
  }
}

/** A change asked of a mount made with `-o ro` (the kernel refuses most first; this is the core's own refusal). */
export class ReadOnlyMountError extends SpfsError {
  constructor(op: string, path: string) {
    super('EROMOUNT', `${op} ${path}: the mount is read-only (ro)`);
  }
}

/** Error codes from the lower layers (stable `code` of each typed error) and what a file operation reports. */
export const ERRNO_BY_CODE: Readonly<Record<string, ErrnoName>> = {
  [P.network]: 'ENETUNREACH',
  [P.auth]: 'EACCES',
  [P.notFound]: 'ENOENT',
  [P.httpStatus]: 'EIO',
  [P.throttled]: 'EIO',
  [P.protocol]: 'EIO',
  [P.rangeNotSatisfiable]: 'EIO',
  // cache / sync
  INTEGRITY: 'EIO',
  HYDRATION: 'EIO',
  EVERSIONCHANGED: 'EIO',
  EOFFLINE: 'ENETUNREACH',
  ECACHEFULL: 'ENOSPC',
  // shared
  EINVALIDINPUT: 'EINVAL',
  // vfs
  EROMOUNT: 'EROFS',
};

/** Maps anything thrown below the FUSE adapter to an errno name; unknown errors are EIO. */
export function toErrnoName(err: unknown): ErrnoName {
  if (err instanceof FsError) return err.errno;
  if (err instanceof SpfsError) {
    const direct = ERRNO_BY_CODE[err.code];
    if (direct !== undefined) {
      // A hydration failure caused by e.g. a network error reports the network errno.
      if (err.code === 'HYDRATION' && err.cause !== undefined && err.cause !== err) {
        const inner = toErrnoName(err.cause);
        return inner === 'EIO' ? direct : inner;
      }
      return direct;
    }
  }
  const sys = (err as NodeJS.ErrnoException | undefined)?.code;
  if (sys === 'ENOENT' || sys === 'ENOSPC' || sys === 'EACCES' || sys === 'EFBIG' || sys === 'EROFS')
    return sys;
  // better-sqlite3's codes: the metadata database could not grow (the cache disk is full) or be written.
  if (sys === 'SQLITE_FULL') return 'ENOSPC';
  if (sys === 'SQLITE_READONLY') return 'EROFS';
  return 'EIO';
}
