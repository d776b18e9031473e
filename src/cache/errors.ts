// Typed errors of the cache layer.
import { SpfsError } from '../shared/errors';

/** The database was written by a newer spfs; refusing beats corrupting it. */
export class SchemaVersionError extends SpfsError {
  constructor(found: number, supported: number) {
    super(
      'ESCHEMAVERSION',
      `database schema version ${found} is newer than this build supports (${supported})`,
    );
  }
}

/** A cache fill was used after it ended (a bug in the caller, never a disk condition). */
export class FillStateError extends SpfsError {
  constructor(op: string, state: string) {
    super('EFILLSTATE', `${op} on a ${state} cache fill`);
  }
}

/** The cache bound (size or free space) is reached and only open, pinned or dirty content remains to evict. */
export class CacheFullError extends SpfsError {
  constructor(
    readonly neededBytes: number,
    detail: string,
  ) {
    super('ECACHEFULL', `the content cache is full: ${detail}`);
  }
}
