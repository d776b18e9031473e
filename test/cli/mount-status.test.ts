// `spfs status` as plain logic: liveness → stale reason and fix, the JSON object against docs/STATUS.md's table,
// and the text lines.
import {
  formatBytes,
  mountStatus,
  STATUS_SCHEMA_VERSION,
  statusDetails,
  statusLine,
} from '../../src/cli/mount-status';
import type { ControlReply } from '../../src/cli/control-socket';
import type { MountRecord } from '../../src/cli/mount-registry';
import type { ItemId } from '../../src/shared/ids';
import { documentedStatusFields, missingFields } from '../helpers/status-schema';

const rec: MountRecord = {
  pid: 4242,
  mountpoint: '/m/work',
  cacheDir: '/c/work',
  url: 'http://h/site',
  startedMs: 0,
};

const reply: ControlReply = {
  done: true,
  pending: [
    { id: 'a' as ItemId, path: '/a.txt', bytes: 10, op: 'create', permanent: false },
    { id: 'b' as ItemId, path: '/b.txt', bytes: 5, op: 'update', permanent: false, failure: 'HTTP 503' },
    { id: 'c' as ItemId, path: '/c.exe', bytes: 7, op: 'create', permanent: true, failure: 'BlockedFile' },
  ],
  connectivity: { state: 'online', sinceMs: 1000 },
  fuse: { adapter: 'libfuse3', kernelCacheS: 60, requests: { read: 3, write: 0 } },
  mount: {
    itemsKnown: 12,
    cache: { usedBytes: 4096, maxBytes: 8192, hydratedFiles: 2, partialFiles: 1 },
    pinnedFiles: 1,
    lastSyncMs: 2000,
    quota: { state: 'Normal', used: 100, granted: 1000 },
  },
};

test('a live mount: every documented field, with the counts and each upload state', () => {
  const s = mountStatus(rec, { daemonAlive: true, mounted: true, reply });
  const fields = documentedStatusFields();
  expect(fields.length).toBeGreaterThan(30);
  expect(missingFields(s, fields)).toEqual([]);
  expect(s.schemaVersion).toBe(STATUS_SCHEMA_VERSION);
  expect(s.state).toBe('online');
  expect(s.since).toBe('1970-01-01T00:00:01.000Z');
  expect(s.cache).toEqual({
    usedBytes: 4096,
    maxBytes: 8192,
    hydratedFiles: 2,
    partialFiles: 1,
    pinnedFiles: 1,
  });
  expect(s.uploads?.files).toBe(3);
  expect(s.uploads?.bytes).toBe(22);
  expect(s.uploads?.failing).toBe(2);
  expect(s.uploads?.items.map((u) => [u.state, u.reason])).toEqual([
    ['waiting', null],
    ['retrying', 'HTTP 503'],
    ['refused', 'BlockedFile'],
  ]);
  expect(s.lastSyncAt).toBe('1970-01-01T00:00:02.000Z');
  expect(s.quota).toEqual({ state: 'Normal', usedBytes: 100, grantedBytes: 1000 });
  expect(statusLine(s)).toBe('/m/work  http://h/site  online  3 pending (22 bytes), 2 failing');
  const text = statusDetails(s, reply.fuse).join('\n');
  expect(text).toMatch(/^server: online since 1970-01-01T00:00:01.000Z$/m);
  expect(text).toMatch(/^fuse requests: read 3$/m);
  expect(text).toMatch(/^cache: 4\.0 KiB of 8\.0 KiB; 2 files hydrated, 1 partly, 1 pinned$/m);
  expect(text).toMatch(/^ {2}update \/b\.txt \(5 bytes\) — retrying: HTTP 503$/m);
  expect(text).toMatch(/^ {2}create \/c\.exe \(7 bytes\) — refused: BlockedFile$/m);
});

test('offline: queued uploads wait for the server, and the last error is told', () => {
  const off: ControlReply = {
    ...reply,
    connectivity: { state: 'offline', sinceMs: 5000, lastError: 'ECONNREFUSED' },
  };
  const s = mountStatus(rec, { daemonAlive: true, mounted: true, reply: off });
  expect(s.state).toBe('offline');
  expect(s.lastError).toBe('ECONNREFUSED');
  expect(s.uploads?.items[0]?.state).toBe('offline');
});

test("a long queue: counted whole from the daemon's totals, the listed part said to be a part", () => {
  const long: ControlReply = { ...reply, queue: { files: 5000, bytes: 123_456, failing: 2, permanent: 1 } };
  const s = mountStatus(rec, { daemonAlive: true, mounted: true, reply: long });
  expect(s.uploads).toMatchObject({ files: 5000, bytes: 123_456, failing: 2, itemsOmitted: 4997 });
  expect(s.uploads?.items).toHaveLength(3);
  expect(statusLine(s)).toContain('5000 pending');
  expect(statusDetails(s)).toContain('  ... and 4997 more');
  expect(statusDetails(mountStatus(rec, { daemonAlive: true, mounted: true, reply }))).not.toContainEqual(
    expect.stringMatching(/more$/),
  );
});

test.each([
  [{ daemonAlive: false, mounted: true }, 'daemon-dead', /left behind/, 'spfs unmount /m/work'],
  [{ daemonAlive: false, mounted: false }, 'daemon-dead', /mount is gone/, 'spfs unmount /m/work'],
  [{ daemonAlive: true, mounted: false }, 'mount-gone', /still runs/, 'spfs unmount /m/work'],
  [{ daemonAlive: true, mounted: true }, 'no-answer', /does not answer/, 'kill 4242; spfs unmount /m/work'],
])('stale %j → %s with its fix, and every documented field present (null)', (l, reason, detail, fix) => {
  const s = mountStatus(rec, l);
  expect(s.state).toBe('stale');
  expect(s.stale?.reason).toBe(reason);
  expect(s.stale?.detail).toMatch(detail);
  expect(s.stale?.fix).toBe(fix);
  expect(missingFields(s, documentedStatusFields())).toEqual([]);
  expect(s.uploads).toBeNull();
  expect(statusLine(s)).toContain(`STALE: ${s.stale?.detail}; run: ${fix}`);
  expect(statusDetails(s)).toContain(`fix: ${fix}`);
});

test('the schema check notices a missing field', () => {
  const s = mountStatus(rec, { daemonAlive: true, mounted: true, reply }) as unknown as Record<
    string,
    unknown
  >;
  delete (s.cache as Record<string, unknown>).pinnedFiles;
  delete s.lastSyncAt;
  expect(missingFields(s, documentedStatusFields())).toEqual(['cache.pinnedFiles', 'lastSyncAt']);
});

test('sizes read as people read them', () => {
  expect(formatBytes(512)).toBe('512 bytes');
  expect(formatBytes(1536)).toBe('1.5 KiB');
  expect(formatBytes(10 * 1024 ** 3)).toBe('10.0 GiB');
});
