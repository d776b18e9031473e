// End to end on generated libraries (child processes, real FUSE): the first mount lists every document at once,
// partial reads (`tail -c`, `dd skip=`) cross HTTP for a window only, the cache bound holds through a mount, a
// second daemon on the same cache is refused, SIGKILL mid-download leaves a reusable cache, and a change made while
// unmounted appears after a remount.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { generatedContent, generatedNames, parseGenerateSpec } from '../../src/server/library-generator';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN } from '../helpers/admin-endpoint';
import {
  assertE2EPrerequisites,
  daemonPids,
  forceCleanup,
  isMounted,
  makeTempDir,
  mountLibrary,
  mountUnder,
  readRequestLog,
  runSpfs,
  startServerProcess,
  PASSWORD_ENV,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

const MIB = 1024 * 1024;
const SMALL = parseGenerateSpec('4,40,1M');
const BIG = parseGenerateSpec('1,3,32M');
const CACHE_SIZE = 4 * MIB;
const WAIT_MS = 30_000;

async function eventually(probe: () => boolean, what: string): Promise<void> {
  const end = Date.now() + WAIT_MS;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Bytes of download bodies the server sent after log line `from`. */
function downloadedSince(server: ServerProcess, from: number): number {
  return readRequestLog(server)
    .slice(from)
    .filter((r) => r.path.toLowerCase().includes('download.aspx'))
    .reduce((n, r) => n + (r.bytes ?? 0), 0);
}

function allocatedBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const st = statSync(join(dir, name));
    n += st.isDirectory() ? allocatedBytes(join(dir, name)) : st.blocks * 512;
  }
  return n;
}

describe('generated libraries through a real mount (child processes)', () => {
  let work: string;
  let small: ServerProcess;
  let big: ServerProcess;
  const mountpoints: string[] = [];
  const mounts: MountProcess[] = [];

  async function mountAt(server: ServerProcess, name: string, extra: string[] = []): Promise<MountProcess> {
    const m = await mountUnder(server, work, name, extra, mountpoints);
    mounts.push(m);
    return m;
  }

  beforeAll(async () => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    work = makeTempDir('e2e-hydration');
    small = await startServerProcess({
      dataDir: join(work, 'small'),
      extraArgs: ['--generate', '4,40,1M', ...ADMIN_ARGS],
    });
    // Paced downloads make "mid-download" a state a test can catch without timing assertions.
    big = await startServerProcess({
      dataDir: join(work, 'big'),
      extraArgs: ['--generate', '1,3,32M', '--download-rate-mibps', '8'],
    });
  }, 180_000);

  afterAll(async () => {
    for (const m of mounts) if (isMounted(m.mountpoint)) await m.unmount();
    await forceCleanup(
      mountpoints,
      work ? [work] : [],
      [small, big].filter((s) => s !== undefined),
    );
  }, 60_000);

  it('a first mount lists every generated document with its size at once', async () => {
    const m = await mountAt(small, 'first', ['--cache-size', String(CACHE_SIZE)]);
    const names = generatedNames(SMALL);
    for (let j = 0; j < SMALL.files; j++) {
      expect(statSync(join(m.mountpoint, names.file(j))).size).toBe(MIB);
    }
    const listed = readdirSync(join(m.mountpoint, names.folder(2))).sort();
    expect(listed).toEqual(
      Array.from({ length: SMALL.files / 4 }, (_, i) =>
        names
          .file(i * 4 + 1)
          .split('/')
          .pop(),
      ).sort(),
    );
  });

  it('the cache bound holds after reading 3 × --cache-size of distinct files', () => {
    const m = mounts[0] as MountProcess;
    const names = generatedNames(SMALL);
    const count = (3 * CACHE_SIZE) / MIB;
    for (let j = 0; j < count; j++) {
      const bytes = readFileSync(join(m.mountpoint, names.file(j)));
      expect(bytes.equals(generatedContent(SMALL, j))).toBe(true);
    }
    // No file is open any more, so the allocated size may not exceed the bound itself.
    expect(allocatedBytes(join(m.cacheDir, 'content'))).toBeLessThanOrEqual(CACHE_SIZE);
  });

  it('a second daemon on the same cache folder is refused with a clear error', async () => {
    const m = mounts[0] as MountProcess;
    const other = join(work, 'mnt-second');
    mkdirSync(other);
    const r = await runSpfs(
      [
        'mount',
        small.url,
        other,
        '--user',
        small.user,
        '--password-env',
        PASSWORD_ENV,
        '--cache-dir',
        m.cacheDir,
      ],
      { [PASSWORD_ENV]: small.password, SPFS_STATE_DIR: join(work, 'state-second') },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/in use by another spfs mount/);
    expect(isMounted(other)).toBe(false);
    expect(isMounted(m.mountpoint)).toBe(true);
  });

  it('a change made while unmounted appears after the remount (catching up in the background)', async () => {
    const m = mounts[0] as MountProcess;
    expect((await m.unmount()).code).toBe(0);
    const port = new URL(small.url).port;
    const res = await fetch(`http://127.0.0.1:${port}/_spfs/admin/changes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ op: 'create-file', path: 'late.txt', content: 'made while unmounted' }),
    });
    expect(res.status).toBe(200);
    const again = await mountLibrary(small, m.mountpoint, m.cacheDir, ['--cache-size', String(CACHE_SIZE)]);
    mounts.push(again);
    await eventually(() => existsSync(join(again.mountpoint, 'late.txt')), 'late.txt after the remount');
    expect(readFileSync(join(again.mountpoint, 'late.txt'), 'utf8')).toBe('made while unmounted');
  });

  it('tail -c and dd skip= of a cold 32 MiB file fetch a window, not the file', async () => {
    const m = await mountAt(big, 'big');
    const names = generatedNames(BIG);
    let from = readRequestLog(big).length;
    const tail = execFileSync('tail', ['-c', '1000', join(m.mountpoint, names.file(0))]);
    expect(tail.equals(generatedContent(BIG, 0).subarray(-1000))).toBe(true);
    expect(downloadedSince(big, from)).toBeLessThanOrEqual(4 * MIB);

    from = readRequestLog(big).length;
    const offset = 5000 * 4096;
    const dd = execFileSync(
      'dd',
      [`if=${join(m.mountpoint, names.file(1))}`, 'bs=4096', 'skip=5000', 'count=1'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    expect(dd.equals(generatedContent(BIG, 1).subarray(offset, offset + 4096))).toBe(true);
    expect(downloadedSince(big, from)).toBeLessThanOrEqual(4 * MIB);
  });

  it('SIGKILL of the daemon mid-download leaves a consistent cache whose ranges the next mount reuses', async () => {
    const m = mounts[mounts.length - 1] as MountProcess;
    const names = generatedNames(BIG);
    const file = join(m.mountpoint, names.file(2));
    const expected = generatedContent(BIG, 2);
    const reader = spawn('cat', [file], { stdio: ['ignore', 'ignore', 'ignore'] });
    const db = new Database(join(m.cacheDir, 'metadata.db'), { readonly: true });
    const rangeBytes = (): number =>
      (db.prepare('SELECT COALESCE(SUM(end - start), 0) AS n FROM cache_ranges').get() as { n: number }).n;
    const before = rangeBytes();
    await eventually(() => rangeBytes() > before, 'a recorded range of the file being read');
    for (const pid of daemonPids(m.cacheDir)) process.kill(pid, 'SIGKILL');
    reader.kill('SIGKILL');
    execFileSync('fusermount', ['-u', '-z', m.mountpoint]);
    // Every recorded range holds the right bytes on disk.
    const rows = db
      .prepare('SELECT r.start, r.end, e.file FROM cache_ranges r JOIN cache_entries e USING (id, etag)')
      .all() as Array<{ start: number; end: number; file: string }>;
    db.close();
    let recorded = 0;
    for (const r of rows) {
      const onDisk = readFileSync(join(m.cacheDir, 'content', r.file)).subarray(r.start, r.end);
      const j = [0, 1, 2].find((k) => generatedContent(BIG, k).subarray(r.start, r.end).equals(onDisk));
      expect(j).toBeDefined();
      if (j === 2) recorded += r.end - r.start;
    }
    expect(recorded).toBeGreaterThan(0);
    expect(recorded).toBeLessThan(expected.length); // killed before the end
    const again = await mountLibrary(big, m.mountpoint, m.cacheDir);
    mounts.push(again);
    const from = readRequestLog(big).length;
    expect(readFileSync(file).equals(expected)).toBe(true);
    expect(downloadedSince(big, from)).toBeLessThanOrEqual(expected.length - recorded);
  }, 120_000);
});
