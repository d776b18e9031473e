// The write path under server trouble (real mount, child processes): many small files go up in a few write batches
// while a large one goes alone; a server answering 503 + Retry-After for a while, then recovering: every write
// lands; unmount with uploads pending and the server down: non-zero exit, files kept, uploaded at the next mount.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN, adminPost } from '../helpers/admin-endpoint';
import {
  assertE2EPrerequisites,
  forceCleanup,
  makeTempDir,
  mountLibrary,
  readRequestLog,
  runSpfs,
  startServerProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

jest.setTimeout(180_000);

describe('write path under server trouble (real mount, fault injection)', () => {
  let base: string;
  let server: ServerProcess;
  let port = '0';
  const servers: ServerProcess[] = [];
  const mountpoints: string[] = [];

  async function startServer(): Promise<ServerProcess> {
    const s = await startServerProcess({
      dataDir: join(base, 'data'),
      ...(servers.length > 0 ? { password: (servers[0] as ServerProcess).password } : {}),
      extraArgs: [...ADMIN_ARGS, ...(port !== '0' ? ['--port', port] : [])],
    });
    servers.push(s);
    port = new URL(s.url).port;
    return s;
  }
  const admin = (path: string, body: unknown): Promise<unknown> => adminPost(port, ADMIN_TOKEN, path, body);

  beforeAll(async () => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    base = makeTempDir('write-fail');
    mkdirSync(join(base, 'data'));
    server = await startServer();
  });
  afterAll(async () => forceCleanup(mountpoints, [base], servers));

  async function mount(name: string, extra: string[] = []): Promise<{ dir: string; cache: string }> {
    const dir = join(base, `mnt-${name}`);
    const cache = join(base, `cache-${name}`);
    mkdirSync(dir, { recursive: true });
    if (!mountpoints.includes(dir)) mountpoints.push(dir);
    await mountLibrary(server, dir, cache, extra);
    return { dir, cache };
  }
  const spfs = (m: { cache: string }, args: string[]): ReturnType<typeof runSpfs> =>
    runSpfs(args, { SPFS_STATE_DIR: join(m.cache, '..', 'state') });
  /** Write requests (E8 batches) in the server's request log since `from`. */
  const writePosts = (from: number): number =>
    readRequestLog(server)
      .slice(from)
      .filter((r) => r.method === 'POST' && /\/RootFolder$/.test(r.path) && r.status === 200).length;

  it('sends 60 small files in a few write batches and a large file on its own', async () => {
    const a = await mount('batch', ['--write-back', '600']);
    mkdirSync(join(a.dir, 'many'));
    expect((await spfs(a, ['flush', a.dir])).code).toBe(0); // the folder first, alone
    const before = readRequestLog(server).length;
    for (let i = 0; i < 60; i++)
      writeFileSync(join(a.dir, 'many', `f${i}.txt`), `small file ${i}\n`.repeat(200));
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    writeFileSync(join(a.dir, 'many', 'big.bin'), big);
    const flushed = await spfs(a, ['flush', a.dir]);
    expect(flushed.stdout).toContain('everything is on the server');
    // One request per file would be 61; batches of small files make it a handful.
    const posts = writePosts(before);
    expect(posts).toBeGreaterThanOrEqual(2);
    expect(posts).toBeLessThanOrEqual(4);
    expect((await spfs(a, ['unmount', a.dir])).code).toBe(0);

    const b = await mount('batch-check');
    expect(readdirSync(join(b.dir, 'many')).length).toBe(61);
    for (const i of [0, 31, 59])
      expect(readFileSync(join(b.dir, 'many', `f${i}.txt`), 'utf8')).toBe(`small file ${i}\n`.repeat(200));
    expect(readFileSync(join(b.dir, 'many', 'big.bin')).equals(big)).toBe(true);
    expect((await spfs(b, ['unmount', b.dir])).code).toBe(0);
  });

  it('keeps retrying through 503 + Retry-After and lands every write when the server recovers', async () => {
    const a = await mount('throttled', ['--write-back', '0.2']);
    const before = readRequestLog(server).length;
    await admin('/faults', {
      kind: 'status',
      status: 503,
      retryAfterSeconds: 1,
      forMs: 4000,
      method: 'POST',
    });
    mkdirSync(join(a.dir, 'busy'));
    for (let i = 0; i < 10; i++) writeFileSync(join(a.dir, 'busy', `t${i}.txt`), `throttled ${i}`);
    const flushed = await spfs(a, ['flush', a.dir]);
    expect(flushed.stdout).toContain('everything is on the server');
    const log = readRequestLog(server).slice(before);
    expect(log.some((r) => r.method === 'POST' && r.status === 503)).toBe(true);
    expect((await spfs(a, ['unmount', a.dir])).code).toBe(0);

    const b = await mount('throttled-check');
    const names = readdirSync(join(b.dir, 'busy')).sort();
    expect(names).toEqual(Array.from({ length: 10 }, (_, i) => `t${i}.txt`).sort());
    for (let i = 0; i < 10; i++)
      expect(readFileSync(join(b.dir, 'busy', `t${i}.txt`), 'utf8')).toBe(`throttled ${i}`);
    expect((await spfs(b, ['unmount', b.dir])).code).toBe(0);
  });

  it('unmount with uploads pending and the server down: exit 1, files kept, uploaded at the next mount', async () => {
    const a = await mount('down', ['--write-back', '600']);
    mkdirSync(join(a.dir, 'away'));
    writeFileSync(join(a.dir, 'away', 'kept.txt'), 'written before the server went down');
    await server.stop();
    const un = await spfs(a, ['unmount', a.dir]);
    expect(un.code).not.toBe(0);
    expect(`${un.stdout}${un.stderr}`).toMatch(/2 (files|items)|pending/);
    expect(existsSync(join(a.cache, 'dirty'))).toBe(true);
    expect(readdirSync(join(a.cache, 'dirty')).length).toBeGreaterThan(0);

    server = await startServer();
    await mount('down', ['--write-back', '0']);
    const flushed = await spfs(a, ['flush', a.dir]);
    expect(flushed.stdout).toContain('everything is on the server');
    expect((await spfs(a, ['unmount', a.dir])).code).toBe(0);
    const b = await mount('down-check');
    expect(readFileSync(join(b.dir, 'away', 'kept.txt'), 'utf8')).toBe('written before the server went down');
    expect((await spfs(b, ['unmount', b.dir])).code).toBe(0);
  });
});
