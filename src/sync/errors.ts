// Typed errors of the sync layer. The codes are the keys of the errno table in src/vfs/errors.ts.
import { SpfsError } from '../shared/errors';
import type { ItemId } from '../shared/ids';

/** Downloaded bytes do not match the item's DataSize / XORHash: nothing is cached, reads fail. */
export class IntegrityError extends SpfsError {
  constructor(
    readonly itemId: ItemId,
    message: string,
  ) {
    super('INTEGRITY', message);
  }
}

/**
 * The server serves another version of the item than the one asked for (another ETag or size): it changed since the
 * last sync. Reads fail (EIO); an open that meets it before serving any byte asks the kernel to look the name up
 * again (ESTALE) once the sync has brought the new version.
 */
export class VersionChangedError extends SpfsError {
  constructor(
    readonly itemId: ItemId,
    message: string,
  ) {
    super('EVERSIONCHANGED', message);
  }
}

/** The content of an item could not be fetched (network, HTTP status, cancelled); `cause` says why. */
export class HydrationError extends SpfsError {
  constructor(
    readonly itemId: ItemId,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('HYDRATION', message, options);
  }
}

/** A pending content upload whose local copy is gone: kept in the journal (listed by `spfs status`), not retried. */
export class LocalCopyMissingError extends SpfsError {
  constructor(path: string) {
    super('ELOCALCOPY', `the local copy of ${path} is missing`);
  }
}

/**
 * The server answered Conflict to an update whose base is a version we wrote ourselves (our X-CustomIdentity): nobody
 * else changed the file, so no conflict copy; the upload is retried (with backoff) and rebases on that version.
 */
export class OwnVersionConflictError extends SpfsError {
  constructor(path: string) {
    super(
      'EOWNCONFLICT',
      `the server refused the update of ${path} as a conflict with our own version; retrying`,
    );
  }
}
