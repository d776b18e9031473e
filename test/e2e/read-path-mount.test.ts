// End to end: `spfs serve` and `spfs mount` as child processes, a real FUSE mount, real HTTP. The mounted tree must
// equal the seed tree, bytes must travel only when a file is opened, and unmount must leave nothing behind.
// (Writes are covered by test/e2e/write-path.test.ts.)
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { promises as fsp, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSampleLibrary } from '../../src/cli/sample-library';
import { eventually } from '../helpers/eventually';
import {
  assertE2EPrerequisites,
  daemonPids,
  forceCleanup,
  isMounted,
  makeTempDir,
  mountLibrary,
  processAlive,
  readRequestLog,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

const BIG_MIB = 256;
const BIG = `Binaries/large-${BIG_MIB}MiB.bin`;

interface Entry {
  path: string;
  kind: 'dir' | 'file';
  size: number;
}

function walk(root: string, rel = ''): Entry[] {
  const out: Entry[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = statSync(join(root, p));
    out.push({ path: p, kind: st.isDirectory() ? 'dir' : 'file', size: st.isDirectory() ? 0 : st.size });
    if (st.isDirectory()) out.push(...walk(root, p));
  }
  return out;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(1024 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

function downloads(server: ServerProcess): string[] {
  return readRequestLog(server)
    .filter((r) => r.path.toLowerCase().includes('/_layouts/15/download.aspx'))
    .map((r) => r.query ?? '');
}

function dropKernelCaches(): void {
  // Root only: makes the next read reach the daemon instead of the kernel's page cache.
  execFileSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
}

describe('the read path of a mounted seeded library (real FUSE, real server, child processes)', () => {
  let work: string;
  let seed: string;
  let server: ServerProcess;
  let mount: MountProcess;
  let mnt: string;

  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('e2e-ro');
    seed = join(work, 'seed');
    await createSampleLibrary(seed, { bigMib: BIG_MIB });
    // The download rate limit makes "first bytes before the whole file" observable without timing assertions.
    server = await startServerProcess({
      dataDir: join(work, 'server'),
      seedDir: seed,
      extraArgs: ['--download-rate-mibps', '32'],
    });
    mnt = join(work, 'mnt');
    await fsp.mkdir(mnt);
    mount = await mountLibrary(server, mnt, join(work, 'cache'));
  }, 180_000);

  afterAll(async () => {
    await forceCleanup(mnt ? [mnt] : [], work ? [work] : [], server ? [server] : []);
  });

  it('shows the seed tree (names, kinds, sizes) without downloading any content', () => {
    expect(walk(mnt)).toEqual(walk(seed));
    expect(downloads(server)).toEqual([]);
  });

  it('downloads only the file that is opened', async () => {
    expect(readFileSync(join(mnt, 'README.txt'))).toEqual(readFileSync(join(seed, 'README.txt')));
    // The server logs a request once its response has ended, after the client may already have every byte.
    await eventually(
      () => (downloads(server).length > 0 ? true : undefined),
      'the download in the request log',
      10_000,
      20,
    );
    expect(downloads(server)).toHaveLength(1);
  });

  it('returns the first 4 KiB of a 256 MiB file after fetching only one read-ahead window', async () => {
    const before = readRequestLog(server).length;
    const fh = await fsp.open(join(mnt, BIG), 'r');
    try {
      const head = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(head, 0, 4096, 0);
      expect(bytesRead).toBe(4096);
      expect(head).toEqual(readFileSync(join(seed, BIG)).subarray(0, 4096));
    } finally {
      await fh.close();
    }
    // The server logs a request when its response ends: wait for the head request's line, then count its bytes.
    let fetched: Array<{ range?: string; bytes?: number }> = [];
    for (let i = 0; i < 100 && fetched.length === 0; i++) {
      fetched = readRequestLog(server)
        .slice(before)
        .filter((r) => r.path.toLowerCase().includes('/_layouts/15/download.aspx'));
      if (fetched.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(fetched.length).toBeGreaterThan(0);
    expect(fetched.every((r) => r.range !== undefined)).toBe(true);
    expect(fetched.reduce((n, r) => n + (r.bytes ?? 0), 0)).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('reads every file with the same bytes as the seed', async () => {
    for (const e of walk(seed).filter((x) => x.kind === 'file')) {
      expect(`${e.path} ${await sha256(join(mnt, e.path))}`).toBe(
        `${e.path} ${await sha256(join(seed, e.path))}`,
      );
    }
  }, 120_000);

  it('reads cached files from the cache with the server stopped', async () => {
    await server.stop();
    dropKernelCaches();
    expect(readFileSync(join(mnt, 'Documents/Quarterly report.txt'))).toEqual(
      readFileSync(join(seed, 'Documents/Quarterly report.txt')),
    );
    expect(await sha256(join(mnt, BIG))).toBe(await sha256(join(seed, BIG)));
  }, 60_000);

  it('unmounts cleanly: no mount and no daemon process left', async () => {
    const pids = daemonPids(mount.cacheDir);
    expect(pids).toHaveLength(1);
    const r = await mount.unmount();
    expect(r).toMatchObject({ code: 0 });
    expect(isMounted(mnt)).toBe(false);
    // Exited: gone, or a zombie its parent has not reaped yet (it holds nothing any more).
    for (const pid of pids) expect(processAlive(pid)).toBe(false);
    writeFileSync(join(mnt, 'proof-unmounted.txt'), 'plain folder again');
  });
});
