// End to end: two spfs mounts of one library (two cache dirs, as two machines) follow changes another user makes
// through the server's admin endpoint; with the server stopped a mount stays browsable, reads hydrated files,
// fails fast on others with ENETUNREACH, and catches up when the server returns; an injected ResyncNeeded heals.
import { mkdirSync, promises as fsp, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN, adminPost } from '../helpers/admin-endpoint';
import { eventually as waitUntil, readOr } from '../helpers/eventually';
import {
  assertE2EPrerequisites,
  cleanupMounts,
  makeTempDir,
  mountUnder,
  readRequestLog,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

/** Generous: the bound is ~2 s after a notification; this only guards against hangs. */
const EVENTUALLY_MS = 20_000;
const eventually = <T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = EVENTUALLY_MS,
): Promise<T> => waitUntil(probe, what, timeoutMs, 100);

function has(dir: string, name: string): boolean {
  try {
    return readdirSync(dir).includes(name);
  } catch {
    return false;
  }
}

describe('change sync and offline (two mounts, admin endpoint, child processes)', () => {
  let work: string;
  let server: ServerProcess;
  let port: string;
  let seed: string;
  const mounts: MountProcess[] = [];
  const servers: ServerProcess[] = [];

  const admin = (path: string, body: unknown): Promise<unknown> => adminPost(port, ADMIN_TOKEN, path, body);
  const change = (c: Record<string, unknown>) => admin('/changes', { user: 'bob', ...c });

  async function startServer(extra: string[] = [], password?: string): Promise<ServerProcess> {
    const s = await startServerProcess({
      dataDir: join(work, 'data'),
      ...(password !== undefined ? { password } : {}),
      seedDir: seed,
      extraArgs: [...ADMIN_ARGS, ...extra],
    });
    servers.push(s);
    return s;
  }

  beforeAll(async () => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    work = makeTempDir('change-sync');
    seed = join(work, 'seed');
    mkdirSync(join(seed, 'Docs'), { recursive: true });
    writeFileSync(join(seed, 'Docs', 'hello.txt'), 'hello v1');
    writeFileSync(join(seed, 'Docs', 'cold.txt'), 'never opened before going offline');
    writeFileSync(join(seed, 'top.txt'), 'top');
    server = await startServer();
    port = new URL(server.url).port;
    for (const n of ['a', 'b']) {
      mounts.push(await mountUnder(server, work, n));
    }
  }, 60_000);

  afterAll(async () => {
    await cleanupMounts(mounts, [work], servers);
    delete process.env[ADMIN_ENV];
  }, 60_000);

  test('create, edit, rename, move and delete by another user appear on both mounts', async () => {
    const [a, b] = mounts.map((m) => m.mountpoint) as [string, string];
    await change({ op: 'create-folder', path: 'Reports' });
    await change({ op: 'create-file', path: 'Reports/q1.txt', content: 'first quarter' });
    for (const m of [a, b])
      expect(await eventually(() => readOr(join(m, 'Reports', 'q1.txt')), 'create')).toBe('first quarter');

    await change({ op: 'edit-file', path: 'Reports/q1.txt', content: 'first quarter, revised' });
    for (const m of [a, b])
      await eventually(
        () => (readOr(join(m, 'Reports', 'q1.txt')) === 'first quarter, revised' ? true : undefined),
        'edit',
      );

    await change({ op: 'rename', path: 'Reports/q1.txt', to: 'q2.txt' });
    for (const m of [a, b]) {
      await eventually(() => (has(join(m, 'Reports'), 'q2.txt') ? true : undefined), 'rename');
      expect(has(join(m, 'Reports'), 'q1.txt')).toBe(false);
    }

    await change({ op: 'move', path: 'Reports/q2.txt', to: 'Docs' });
    for (const m of [a, b]) {
      await eventually(() => (has(join(m, 'Docs'), 'q2.txt') ? true : undefined), 'move');
      expect(readFileSync(join(m, 'Docs', 'q2.txt'), 'utf8')).toBe('first quarter, revised');
    }

    await change({ op: 'delete', path: 'Reports' });
    for (const m of [a, b]) await eventually(() => (has(m, 'Reports') ? undefined : true), 'delete');
  }, 90_000);

  test('an edit to a hydrated file is read with the new bytes by the next open; the old version is dropped', async () => {
    const a = mounts[0]!.mountpoint;
    expect(readFileSync(join(a, 'Docs', 'hello.txt'), 'utf8')).toBe('hello v1');
    const before = readdirSync(join(mounts[0]!.cacheDir, 'content')).length;
    await change({ op: 'edit-file', path: 'Docs/hello.txt', content: 'hello version two' });
    await eventually(
      () => (readOr(join(a, 'Docs', 'hello.txt')) === 'hello version two' ? true : undefined),
      'new bytes',
    );
    // one cached file per version: the superseded one is gone, the new one took its place
    expect(readdirSync(join(mounts[0]!.cacheDir, 'content')).length).toBe(before);
  }, 60_000);

  test('a ResyncNeeded injected by the server is healed by a full pass, and later changes still arrive', async () => {
    const b = mounts[1]!.mountpoint;
    await admin('/faults', { kind: 'resync-needed', path: 'Filter=changes', count: 1 });
    await change({ op: 'create-file', path: 'after-resync.txt', content: 'resynced' });
    expect(await eventually(() => readOr(join(b, 'after-resync.txt')), 'after resync')).toBe('resynced');
    expect(readFileSync(join(b, 'top.txt'), 'utf8')).toBe('top');
    await change({ op: 'create-file', path: 'after-resync-2.txt', content: 'still following' });
    expect(await eventually(() => readOr(join(b, 'after-resync-2.txt')), 'later change')).toBe(
      'still following',
    );
    expect(
      readRequestLog(server).some(
        (r) => r.query?.includes('Filter=changes') && !r.query.includes('SyncToken'),
      ),
    ).toBe(true);
  }, 60_000);

  test('offline: browse, read hydrated, fast ENETUNREACH on a non-hydrated file, catch-up on return', async () => {
    const a = mounts[0]!.mountpoint;
    expect(readFileSync(join(a, 'top.txt'), 'utf8')).toBe('top'); // hydrated while online
    await server.stop();
    // the mount notices (its channel breaks) and stays up
    await eventually(() => {
      try {
        readFileSync(join(a, 'Docs', 'cold.txt'));
        return undefined;
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ENETUNREACH' ? true : undefined;
      }
    }, 'ENETUNREACH');
    expect(readdirSync(join(a, 'Docs')).sort()).toEqual(['cold.txt', 'hello.txt', 'q2.txt']);
    expect(readFileSync(join(a, 'top.txt'), 'utf8')).toBe('top');
    // fails fast: repeated opens of a cold file all fail at once rather than waiting on the network
    const t0 = Date.now();
    await expect(fsp.readFile(join(a, 'Docs', 'cold.txt'))).rejects.toMatchObject({ code: 'ENETUNREACH' });
    const failMs = Date.now() - t0;
    expect(failMs).toBeLessThan(EVENTUALLY_MS); // sanity only; the measured figure goes in the report

    server = await startServer(['--port', port], server.password);
    await change({ op: 'create-file', path: 'while-away.txt', content: 'made during the outage' });
    const seen = await eventually(() => readOr(join(a, 'while-away.txt')), 'catch-up', 90_000).catch(
      (err: unknown) => {
        const log = readOr(join(mounts[0]!.cacheDir, 'spfs.log')) ?? '';
        throw new Error(`${String(err)}\n${log.split('\n').slice(-3).join('\n').slice(0, 2000)}`);
      },
    );
    expect(seen).toBe('made during the outage');
    expect(readFileSync(join(a, 'Docs', 'cold.txt'), 'utf8')).toBe('never opened before going offline');
  }, 150_000);
});
