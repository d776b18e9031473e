// End to end: what a person sees when something is wrong — a clear message and exit code from `spfs mount`, or
// EIO plus a log line naming the item while the mount stays up; nothing outside the mountpoint and cache touched.
import Database from 'better-sqlite3';
import { createServer, type Server } from 'node:http';
import { mkdirSync, promises as fsp, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import {
  assertE2EPrerequisites,
  forceCleanup,
  isMounted,
  makeTempDir,
  mountLibrary,
  PASSWORD_ENV,
  runSpfs,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

function seedTree(root: string): void {
  const files: Record<string, string> = {
    'good.txt': 'good bytes\n',
    'corrupt me.txt': 'these bytes will be replaced on the server\n',
    'slash-name.txt': 'renamed to contain a slash\n',
    'dotdot.txt': 'renamed to ..\n',
    'sub/inner.txt': 'inner\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
  }
}

/** The server keeps one folder per library (SQLite + blobs); the test user's is the only one here. */
function libraryFolder(dataDir: string, user: string): string {
  return join(dataDir, 'libraries', `personal-${user.toLowerCase()}`);
}

function serverDb(folder: string): string {
  const db = readdirSync(folder).find((f) => f.endsWith('.sqlite') || f.endsWith('.db'));
  if (!db) throw new Error(`no database in ${folder}`);
  return join(folder, db);
}

describe('spfs mount refuses clearly (child processes)', () => {
  let work: string;
  let server: ServerProcess;
  const mounts: string[] = [];

  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('e2e-errors');
    seedTree(join(work, 'seed'));
    server = await startServerProcess({ dataDir: join(work, 'server'), seedDir: join(work, 'seed') });
  }, 60_000);
  afterAll(() => forceCleanup(mounts, [work], [server]));

  const mountArgs = (url: string, mnt: string): string[] => [
    'mount',
    url,
    mnt,
    '--user',
    server.user,
    '--password-env',
    PASSWORD_ENV,
    '--cache-dir',
    join(work, `cache-${mounts.length}`),
  ];
  const newMountpoint = async (): Promise<string> => {
    const m = join(work, `mnt-${mounts.length}`);
    await fsp.mkdir(m);
    mounts.push(m);
    return m;
  };

  it('wrong password: exit 4 and a message about the credentials, no mount', async () => {
    const mnt = await newMountpoint();
    const r = await runSpfs(mountArgs(server.url, mnt), { [PASSWORD_ENV]: 'wrong-password' });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/refused the credentials/);
    expect(r.stderr).not.toContain('wrong-password');
    expect(isMounted(mnt)).toBe(false);
  });

  it('server down: exit 3 and "cannot reach", no mount', async () => {
    const mnt = await newMountpoint();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const r = await runSpfs(mountArgs(`http://127.0.0.1:${port}/personal/tester`, mnt), {
      [PASSWORD_ENV]: server.password,
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/cannot reach/);
    expect(isMounted(mnt)).toBe(false);
  });

  it('missing or non-empty mountpoint: exit 6 with the reason', async () => {
    const missing = await runSpfs(mountArgs(server.url, join(work, 'does-not-exist')), {
      [PASSWORD_ENV]: server.password,
    });
    expect(missing.code).toBe(6);
    expect(missing.stderr).toMatch(/does not exist/);
    const full = await newMountpoint();
    writeFileSync(join(full, 'x'), 'x');
    const r = await runSpfs(mountArgs(server.url, full), { [PASSWORD_ENV]: server.password });
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/not empty/);
  });

  it('FUSE missing (fusermount not on PATH, simulated fault): exit 5 and how to install it', async () => {
    const mnt = await newMountpoint();
    const r = await runSpfs(mountArgs(server.url, mnt), {
      [PASSWORD_ENV]: server.password,
      PATH: '/nonexistent',
    });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/apt-get install fuse3 libfuse2/);
  });

  it('malformed XML from a server (simulated fault): a clear exit message, no mount', async () => {
    const mnt = await newMountpoint();
    const bad: Server = createServer((req, res) => {
      if (
        (req.url ?? '').includes('/_api/web/DefaultDocumentLibrary/ID') ||
        (req.url ?? '').includes('/_api/Site/Id')
      ) {
        res.setHeader('Content-Type', 'application/json;odata=verbose');
        res.end(JSON.stringify({ d: { Id: '0f3c9e2a-7b7d-4c55-a1d2-4b1f6e9c0a11' } }));
        return;
      }
      res.setHeader('Content-Type', 'Application/Web3s+xml');
      res.end('<?xml version="1.0"?><PolicyDocument><Rule name="ItemCount" value="500"></PolicyDoc');
    });
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    try {
      const port = (bad.address() as AddressInfo).port;
      const r = await runSpfs(mountArgs(`http://127.0.0.1:${port}/personal/tester`, mnt), {
        [PASSWORD_ENV]: 'x',
      });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/response spfs cannot use/);
      expect(isMounted(mnt)).toBe(false);
    } finally {
      await new Promise((r) => bad.close(r));
    }
  });
});

describe('bad items from a real server: the mount stays up (child processes)', () => {
  let work: string;
  let server: ServerProcess;
  let mount: MountProcess | undefined;
  let mnt: string;

  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('e2e-baditems');
    seedTree(join(work, 'seed'));
    // Seed, stop, then give two items names no POSIX file may have — straight in the server's own database, so
    // the real server serves them — and corrupt one blob so its bytes no longer match DataSize/XORHash.
    let s = await startServerProcess({ dataDir: join(work, 'server'), seedDir: join(work, 'seed') });
    await s.stop();
    const lib = libraryFolder(join(work, 'server'), s.user);
    const db = new Database(serverDb(lib));
    db.prepare("UPDATE items SET name = 'a/b', name_key = 'a/b' WHERE name = 'slash-name.txt'").run();
    db.prepare("UPDATE items SET name = '..', name_key = '..' WHERE name = 'dotdot.txt'").run();
    const blob = db.prepare("SELECT blob FROM items WHERE name = 'corrupt me.txt'").get() as { blob: string };
    db.close();
    const blobPath = join(lib, 'blobs', blob.blob);
    const original = readFileSync(blobPath);
    writeFileSync(blobPath, Buffer.alloc(original.length, 0x41));
    s = await startServerProcess({ dataDir: join(work, 'server') });
    server = s;
    mnt = join(work, 'mnt');
    await fsp.mkdir(mnt);
    mount = await mountLibrary(server, mnt, join(work, 'cache'));
  }, 60_000);
  afterAll(() => forceCleanup(mnt ? [mnt] : [], [work], server ? [server] : []));

  it('leaves out names with "/" or ".." and logs the item', () => {
    const names = readdirSync(mnt).sort();
    expect(names).toEqual(['corrupt me.txt', 'good.txt', 'sub']);
    const log = readFileSync(join(mount!.cacheDir, 'spfs.log'), 'utf8');
    const skipped = log
      .split('\n')
      .filter((l) => l.includes('skipping server item'))
      .map((l) => (JSON.parse(l) as { name: string }).name)
      .sort();
    expect(skipped).toEqual(['..', 'a/b']);
  });

  it('answers EIO for a file whose bytes do not match its hash, logs it, and keeps serving', async () => {
    await expect(fsp.readFile(join(mnt, 'corrupt me.txt'))).rejects.toMatchObject({ code: 'EIO' });
    const log = readFileSync(join(mount!.cacheDir, 'spfs.log'), 'utf8');
    expect(log).toMatch(/corrupt me\.txt/);
    expect(readFileSync(join(mnt, 'good.txt'), 'utf8')).toBe('good bytes\n');
    expect(readFileSync(join(mnt, 'sub/inner.txt'), 'utf8')).toBe('inner\n');
  });

  it('touched nothing outside the mountpoint and cache folder', () => {
    // The temp folder holds only what the test itself made; a hostile name that escaped would show up here.
    for (const entry of readdirSync(work))
      expect(entry).toMatch(/^(cache|mnt|seed|server|state|requests-\d+\.log)$/);
    expect(readdirSync(join(work, 'seed')).sort()).toEqual([
      'corrupt me.txt',
      'dotdot.txt',
      'good.txt',
      'slash-name.txt',
      'sub',
    ]);
  });
});
