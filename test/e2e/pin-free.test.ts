// `spfs pin`, `spfs unpin` and `spfs free` end to end (child processes, real FUSE, `spfs serve` with its admin
// endpoint and request log): a pinned folder is hydrated without being opened, stays through cache pressure, takes a
// remote edit and a remotely added file in the background, and is served after a remount with the server down;
// `free` releases exactly the clean, unpinned, unopened bytes.
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN, adminPost } from '../helpers/admin-endpoint';
import { eventually } from '../helpers/eventually';
import {
  assertE2EPrerequisites,
  forceCleanup,
  isMounted,
  makeTempDir,
  mountLibrary,
  readRequestLog,
  runSpfs,
  startServerProcess,
  type MountProcess,
  type RunResult,
  type ServerProcess,
} from '../helpers/spfs-processes';

const MIB = 1024 * 1024;
const WAIT_MS = 30_000;
const KEEP = ['k0.bin', 'k1.bin', 'k2.bin'];
const OTHER = Array.from({ length: 8 }, (_, i) => `o${i}.bin`);
/** Room for the pinned folder and five more files: reading every other file must evict. */
const CACHE_SIZE = 8 * MIB + 512 * 1024;

function content(name: string): Buffer {
  const b = Buffer.alloc(MIB);
  const seed = [...name].reduce((n, c) => n * 31 + c.charCodeAt(0), 7);
  for (let i = 0; i < b.length; i++) b[i] = (i * 13 + seed + (i >>> 9)) & 0xff;
  return b;
}

interface CachedRow {
  name: string;
  parent: string;
  pinned: number;
  verified: number;
  allocated: number;
}

describe('spfs pin / unpin / free through a real mount (child processes)', () => {
  let work: string;
  let server: ServerProcess;
  let m: MountProcess;
  const mountpoints: string[] = [];
  const spfs = (...args: string[]): Promise<RunResult> =>
    runSpfs(args, { SPFS_STATE_DIR: join(m.cacheDir, '..', 'state') });
  const admin = (body: unknown): Promise<unknown> =>
    adminPost(new URL(server.url).port, ADMIN_TOKEN, '/changes', body);

  /** Every item's current version as the daemon's database has it, with its cache entry (if any). */
  function rows(): Map<string, CachedRow> {
    const db = new Database(join(m.cacheDir, 'metadata.db'), { readonly: true });
    try {
      const all = db
        .prepare(
          `SELECT i.name, p.name AS parent, i.pinned, COALESCE(c.verified, 0) AS verified,
                  COALESCE(c.allocated, 0) AS allocated
           FROM items i LEFT JOIN items p ON p.id = i.parent_id
           LEFT JOIN cache_entries c ON c.id = i.id AND c.etag = i.etag`,
        )
        .all() as CachedRow[];
      return new Map(all.map((r) => [r.name, r]));
    } finally {
      db.close();
    }
  }
  const verified = (name: string): boolean => rows().get(name)?.verified === 1;
  const downloadsOf = (from: number): number =>
    readRequestLog(server)
      .slice(from)
      .filter((r) => r.path.toLowerCase().includes('download.aspx')).length;

  beforeAll(async () => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    work = makeTempDir('e2e-pins');
    const seed = join(work, 'seed');
    mkdirSync(join(seed, 'Keep'), { recursive: true });
    mkdirSync(join(seed, 'Other'), { recursive: true });
    for (const n of KEEP) writeFileSync(join(seed, 'Keep', n), content(n));
    for (const n of OTHER) writeFileSync(join(seed, 'Other', n), content(n));
    // Paced downloads: `spfs pin` is still hydrating when its first progress line comes.
    server = await startServerProcess({
      dataDir: join(work, 'data'),
      seedDir: seed,
      extraArgs: [...ADMIN_ARGS, '--download-rate-mibps', '16'],
    });
    const mnt = join(work, 'mnt');
    mkdirSync(mnt);
    mountpoints.push(mnt);
    // A long write-back keeps a modified file's upload pending for the whole test.
    m = await mountLibrary(server, mnt, join(work, 'cache'), [
      '--cache-size',
      String(CACHE_SIZE),
      '--write-back',
      '600',
    ]);
  }, 120_000);

  afterAll(async () => {
    if (m !== undefined && isMounted(m.mountpoint)) await m.unmount();
    await forceCleanup(mountpoints, work ? [work] : [], server ? [server] : []);
  }, 60_000);

  it('spfs pin hydrates every file of a folder without opening it, with progress and a summary', async () => {
    const from = readRequestLog(server).length;
    const r = await spfs('pin', join(m.mountpoint, 'Keep'));
    expect(r.stderr).toMatch(/hydrating 0\/3 files, 0B\/3MB/);
    expect(r.stdout).toMatch(/pinned \/Keep: 3\/3 files \(3MB\) on this device/);
    expect(r.code).toBe(0);
    for (const n of KEEP) expect(rows().get(n)).toMatchObject({ pinned: 1, verified: 1 });
    expect(rows().get('Keep')?.pinned).toBe(1);
    for (const n of OTHER) expect(rows().get(n)?.verified).toBe(0);
    expect(downloadsOf(from)).toBeGreaterThanOrEqual(KEEP.length);
  });

  it('pinned files stay through cache pressure while the others are evicted', () => {
    for (const n of OTHER) expect(readFileSync(join(m.mountpoint, 'Other', n)).equals(content(n))).toBe(true);
    const after = rows();
    for (const n of KEEP) expect(after.get(n)?.verified).toBe(1);
    const others = OTHER.filter((n) => after.get(n)?.verified === 1);
    expect(others.length).toBeLessThan(OTHER.length);
    const used = [...after.values()].reduce((s, r) => s + r.allocated, 0);
    expect(used).toBeLessThanOrEqual(CACHE_SIZE);
  });

  it('a remote edit of a pinned file is hydrated in the background, without opening it', async () => {
    const before = rows().get('k0.bin');
    await admin({ op: 'edit-file', path: 'Keep/k0.bin', content: 'edited on the server' });
    // The new version (its own ETag) becomes the verified cache entry of the item with nobody reading it.
    await eventually(
      () => {
        const r = rows().get('k0.bin');
        return r !== undefined && r.verified === 1 && r.allocated > 0 && r.allocated !== before?.allocated
          ? true
          : undefined;
      },
      'the edited k0.bin hydrated',
      WAIT_MS,
    );
    expect(readFileSync(join(m.mountpoint, 'Keep', 'k0.bin'), 'utf8')).toBe('edited on the server');
  });

  it('a file added remotely inside a pinned folder is pinned and hydrated', async () => {
    await admin({ op: 'create-file', path: 'Keep/added.txt', content: 'added on the server' });
    await eventually(
      () => (rows().get('added.txt')?.verified === 1 ? true : undefined),
      'added.txt pinned and hydrated',
      WAIT_MS,
    );
    expect(rows().get('added.txt')?.pinned).toBe(1);
  });

  it('a file written here or moved here into a pinned folder is pinned and kept on this device', async () => {
    writeFileSync(join(m.mountpoint, 'Keep', 'local.txt'), 'written here');
    expect(rows().get('local.txt')?.pinned).toBe(1);
    expect((await spfs('flush', join(m.mountpoint, 'Keep', 'local.txt'))).code).toBe(0);
    // The uploaded copy became the verified cache entry of the server's version.
    await eventually(
      () => (verified('local.txt') ? true : undefined),
      'local.txt kept after upload',
      WAIT_MS,
    );

    expect(rows().get('o0.bin')).toMatchObject({ pinned: 0, verified: 0 }); // evicted by the pressure above
    renameSync(join(m.mountpoint, 'Other', 'o0.bin'), join(m.mountpoint, 'Keep', 'o0.bin'));
    await eventually(
      () => (rows().get('o0.bin')?.verified === 1 ? true : undefined),
      'o0.bin hydrated after the move into the pinned folder',
      WAIT_MS,
    );
    expect(rows().get('o0.bin')).toMatchObject({ parent: 'Keep', pinned: 1 });
  });

  it('spfs free releases exactly the clean, unpinned, unopened bytes and says what it kept', async () => {
    // The files read last are cached (the kernel may serve earlier ones from its page cache without asking the
    // daemon). Of those: o7 open, o6 modified (upload pending), o5 pinned, the rest clean.
    const cached = OTHER.filter((n) => rows().get(n)?.verified === 1);
    expect(cached).toEqual(expect.arrayContaining(['o3.bin', 'o4.bin', 'o5.bin', 'o6.bin', 'o7.bin']));
    const fd = openSync(join(m.mountpoint, 'Other', 'o7.bin'), 'r');
    try {
      readSync(fd, Buffer.alloc(MIB), 0, MIB, 0);
      appendFileSync(join(m.mountpoint, 'Other', 'o6.bin'), 'local change');
      expect((await spfs('pin', '--no-wait', join(m.mountpoint, 'Other', 'o5.bin'))).code).toBe(0);
      await eventually(() => (verified('o5.bin') ? true : undefined), 'o5.bin hydrated', WAIT_MS);

      const before = rows();
      const kept = new Set(['o5.bin', 'o6.bin', 'o7.bin']);
      const clean = OTHER.filter(
        (n) => !kept.has(n) && before.get(n)?.parent === 'Other' && (before.get(n)?.allocated ?? 0) > 0,
      );
      expect(clean).toEqual(expect.arrayContaining(['o3.bin', 'o4.bin']));
      const cleanBytes = clean.reduce((s, n) => s + (before.get(n)?.allocated ?? 0), 0);

      const r = await spfs('free', join(m.mountpoint, 'Other'));
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`freed ${clean.length} files`);
      expect(r.stdout).toContain(`(${cleanBytes} bytes)`);
      expect(r.stdout).toContain('/Other/o7.bin (open)');
      expect(r.stdout).toContain('/Other/o6.bin (pending upload)');
      expect(r.stdout).toMatch(
        /kept 1 pinned files, 1MB \(spfs free --unpin frees them\):\n {2}\/Other\/o5.bin\n/,
      );
      const after = rows();
      for (const n of clean) expect(after.get(n)?.allocated).toBe(0);
      expect(after.get('o7.bin')?.verified).toBe(1);
      expect(after.get('o5.bin')).toMatchObject({ verified: 1, pinned: 1 });
      for (const n of KEEP.slice(1)) expect(after.get(n)?.verified).toBe(1); // outside the path
    } finally {
      closeSync(fd);
    }
    // --unpin frees the pinned file too.
    const u = await spfs('free', '--unpin', join(m.mountpoint, 'Other', 'o5.bin'));
    expect(u.stdout).toContain('freed 1 files');
    expect(rows().get('o5.bin')).toMatchObject({ verified: 0, pinned: 0 });
  });

  it('paths outside a mount and unknown names are refused with a clear error', async () => {
    const outside = await spfs('pin', work);
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toMatch(/is not inside an spfs mount/);
    const missing = await spfs('free', join(m.mountpoint, 'no-such-folder'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no such file or folder: \/no-such-folder/);
  });

  it('spfs unpin keeps the content but makes it evictable', async () => {
    const r = await spfs('unpin', join(m.mountpoint, 'Keep', 'k1.bin'));
    expect(r.code).toBe(0);
    expect(rows().get('k1.bin')).toMatchObject({ pinned: 0, verified: 1 });
    expect(rows().get('k2.bin')?.pinned).toBe(1);
  });

  it('pins survive a remount: pinned content is served with the server down', async () => {
    expect((await m.unmount()).code).toBe(0);
    await server.stop();
    m = await mountLibrary(server, m.mountpoint, m.cacheDir, ['--cache-size', String(CACHE_SIZE)]);
    expect(rows().get('k2.bin')).toMatchObject({ pinned: 1, verified: 1 });
    expect(readFileSync(join(m.mountpoint, 'Keep', 'k2.bin')).equals(content('k2.bin'))).toBe(true);
    expect(readFileSync(join(m.mountpoint, 'Keep', 'k0.bin'), 'utf8')).toBe('edited on the server');
    expect(readFileSync(join(m.mountpoint, 'Keep', 'added.txt'), 'utf8')).toBe('added on the server');
  });
});
