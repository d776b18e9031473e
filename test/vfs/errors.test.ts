// The errno table: every typed error of the lower layers maps to the errno docs/SEMANTICS.md promises.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  AuthError,
  HttpStatusError,
  NetworkError,
  NotFoundError,
  ProtocolError,
  ThrottledError,
} from '../../src/protocol/errors';
import { InvalidInputError } from '../../src/shared/errors';
import type { ItemId } from '../../src/shared/ids';
import { OfflineError } from '../../src/sync/connectivity';
import { HydrationError, IntegrityError, VersionChangedError } from '../../src/sync/errors';
import { ERRNO_BY_CODE, FsError, ReadOnlyMountError, toErrnoName } from '../../src/vfs/errors';

const info = { status: 0, method: 'GET', url: 'http://127.0.0.1/x' };
const id = '0123456789abcdef0123456789abcdef' as ItemId;

describe('toErrnoName', () => {
  it.each([
    ['server unreachable', new NetworkError('down', 'unreachable'), 'ENETUNREACH'],
    ['offline, content not cached', new OfflineError('not available offline'), 'ENETUNREACH'],
    ['credentials refused', new AuthError({ ...info, status: 401 }), 'EACCES'],
    ['item gone', new NotFoundError({ ...info, status: 404 }), 'ENOENT'],
    ['throttled', new ThrottledError({ ...info, status: 429 }, 1000), 'EIO'],
    ['other HTTP status', new HttpStatusError({ ...info, status: 500 }), 'EIO'],
    ['malformed response', new ProtocolError('bad xml'), 'EIO'],
    ['hash mismatch', new IntegrityError(id, 'mismatch'), 'EIO'],
    ['another version on the server, mid-read', new VersionChangedError(id, 'version 3'), 'EIO'],
    [
      'hydration, network cause',
      new HydrationError(id, 'x', { cause: new NetworkError('d', 'reset') }),
      'ENETUNREACH',
    ],
    [
      'hydration, disk full',
      new HydrationError(id, 'x', { cause: Object.assign(new Error('full'), { code: 'ENOSPC' }) }),
      'ENOSPC',
    ],
    [
      'metadata database full (the cache disk)',
      Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }),
      'ENOSPC',
    ],
    [
      'cache folder read-only',
      Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' }),
      'EROFS',
    ],
    ['hydration, unknown cause', new HydrationError(id, 'x', { cause: new Error('?') }), 'EIO'],
    [
      'write past the largest local file',
      Object.assign(new Error('File too large'), { code: 'EFBIG' }),
      'EFBIG',
    ],
    ['invalid input', new InvalidInputError('bad name'), 'EINVAL'],
    ['filesystem error', new FsError('EROFS', 'read-only'), 'EROFS'],
    ['change on a read-only mount', new ReadOnlyMountError('unlink', '/a'), 'EROFS'],
    ['anything else', new Error('boom'), 'EIO'],
  ])('%s → %s', (_what, err, errno) => {
    expect(toErrnoName(err)).toBe(errno);
  });

  it('uses only errnos that docs/SEMANTICS.md lists in its errno table', () => {
    const doc = readFileSync(path.join(__dirname, '..', '..', 'docs', 'SEMANTICS.md'), 'utf8');
    const table = doc.slice(doc.indexOf('## Errno table'));
    const documented = new Set([...table.matchAll(/\| `(E[A-Z]+)` \|/g)].map((m) => m[1]));
    for (const errno of new Set(Object.values(ERRNO_BY_CODE))) expect(documented).toContain(errno);
  });
});
