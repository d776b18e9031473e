// What flush PATH and unmount report of the part of the queue they wait for: counted whole, listed up to a limit with
// the failing entries first (a backlog of thousands is not sent line by line twice a second).
import type { ItemId } from '../../src/shared/ids';
import { summarise, type PendingUpload } from '../../src/sync/upload-status';

const entry = (n: number, more: Partial<PendingUpload> = {}): PendingUpload => ({
  id: `id-${n}` as ItemId,
  path: `/f${n}.txt`,
  bytes: n,
  op: 'create',
  permanent: false,
  ...more,
});

test('a part of the queue: counts of all of it, at most `limit` listed, failing ones first in queue order', () => {
  const entries = [
    entry(1),
    entry(2, { failure: 'HTTP 503' }),
    entry(3),
    entry(4, { failure: 'InvalidName', permanent: true }),
    entry(5),
  ];
  const s = summarise(entries, 3);
  expect(s).toMatchObject({ files: 5, bytes: 15, failing: 2, permanent: 1 });
  expect(s.listed.map((p) => p.path)).toEqual(['/f2.txt', '/f4.txt', '/f1.txt']);
  expect(summarise([], 3)).toEqual({ files: 0, bytes: 0, failing: 0, permanent: 0, listed: [] });
});
