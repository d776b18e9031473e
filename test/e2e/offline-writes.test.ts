// End to end: local modifications meet change sync. `spfs status` says online/offline and since when; files written
// while the server is down are journaled, readable, listed as pending, and land on the server when it returns; a
// ResyncNeeded with local changes pending loses and duplicates nothing; a remote edit of a locally edited file keeps both.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN, adminPost } from '../helpers/admin-endpoint';
import { eventually as waitUntil, readOr } from '../helpers/eventually';
import {
  assertE2EPrerequisites,
  cleanupMounts,
  makeTempDir,
  mountUnder,
  runSpfs,
  startServerProcess,
  type MountProcess,
  type RunResult,
  type ServerProcess,
} from '../helpers/spfs-processes';

/** Only guards against hangs; no timing is asserted. */
const EVENTUALLY_MS = 60_000;
const eventually = <T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = EVENTUALLY_MS,
): Promise<T> => waitUntil(probe, what, timeoutMs, 200);

describe('local modifications and change sync (real mounts, admin endpoint, child processes)', () => {
  let work: string;
  let seed: string;
  let server: ServerProcess;
  let port: string;
  const servers: ServerProcess[] = [];
  const mounts: MountProcess[] = [];
  /** a: writes, quick write-back; b: observer (the server's view); c: writes held back (--write-back 600). */
  let a: MountProcess;
  let b: MountProcess;
  let c: MountProcess;

  const admin = (path: string, body: unknown): Promise<unknown> => adminPost(port, ADMIN_TOKEN, path, body);
  const change = (ch: Record<string, unknown>): Promise<unknown> => admin('/changes', { user: 'bob', ...ch });

  async function startServer(extra: string[] = [], password?: string): Promise<ServerProcess> {
    const s = await startServerProcess({
      dataDir: join(work, 'data'),
      seedDir: seed,
      ...(password !== undefined ? { password } : {}),
      extraArgs: [...ADMIN_ARGS, ...extra],
    });
    servers.push(s);
    return s;
  }

  async function mount(name: string, extra: string[] = []): Promise<MountProcess> {
    const m = await mountUnder(server, work, name, extra);
    mounts.push(m);
    return m;
  }

  const spfs = (m: MountProcess, args: string[]): Promise<RunResult> =>
    runSpfs(args, { SPFS_STATE_DIR: join(m.cacheDir, '..', 'state') });
  const status = async (m: MountProcess): Promise<string> => (await spfs(m, ['status', m.mountpoint])).stdout;

  /** Waits until mount `m` has applied an admin change made now (its change sync ran after this point). */
  async function synced(m: MountProcess, tag: string): Promise<void> {
    await change({ op: 'create-file', path: `marker-${tag}.txt`, content: tag });
    await eventually(() => readOr(join(m.mountpoint, `marker-${tag}.txt`)), `marker ${tag}`);
  }

  beforeAll(async () => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    work = makeTempDir('offline-writes');
    seed = join(work, 'seed');
    mkdirSync(join(seed, 'Docs'), { recursive: true });
    writeFileSync(join(seed, 'Docs', 'plan.txt'), 'plan v1');
    writeFileSync(join(seed, 'Docs', 'shared.txt'), 'shared v1');
    server = await startServer();
    port = new URL(server.url).port;
    a = await mount('a', ['--write-back', '0.2']);
    b = await mount('b');
    c = await mount('c', ['--write-back', '600']);
  }, 60_000);

  afterAll(async () => {
    await cleanupMounts(mounts, [work], servers);
    delete process.env[ADMIN_ENV];
  }, 60_000);

  test('a ResyncNeeded with local changes pending: nothing lost, nothing duplicated, all uploaded', async () => {
    writeFileSync(join(c.mountpoint, 'Docs', 'new-local.txt'), 'created before the resync');
    writeFileSync(join(c.mountpoint, 'Docs', 'plan.txt'), 'plan v2, edited locally');
    expect(await status(c)).toMatch(/pending uploads: 2 files/);
    // Each of the three mounts' next incremental enumeration answers ResyncNeeded (a full pass sends no token).
    await admin('/faults', { kind: 'resync-needed', path: 'Filter=changes.*SyncToken=', count: 3 });
    await synced(c, 'resync'); // the marker arrives through the full pass
    await eventually(
      () => (/server asks for a resync/.test(readOr(join(c.cacheDir, 'spfs.log')) ?? '') ? true : undefined),
      'the writing mount ran the resync',
    );
    expect(readFileSync(join(c.mountpoint, 'Docs', 'new-local.txt'), 'utf8')).toBe(
      'created before the resync',
    );
    expect(readFileSync(join(c.mountpoint, 'Docs', 'plan.txt'), 'utf8')).toBe('plan v2, edited locally');
    expect(await status(c)).toMatch(/pending uploads: 2 files/);

    const flushed = await spfs(c, ['flush', c.mountpoint]);
    expect(flushed.stdout).toContain('everything is on the server');
    await eventually(
      () => (readOr(join(b.mountpoint, 'Docs', 'plan.txt')) === 'plan v2, edited locally' ? true : undefined),
      'edit on the server',
    );
    expect(readFileSync(join(b.mountpoint, 'Docs', 'new-local.txt'), 'utf8')).toBe(
      'created before the resync',
    );
    const names = readdirSync(join(b.mountpoint, 'Docs')).sort();
    expect(names).toEqual(['new-local.txt', 'plan.txt', 'shared.txt']);
    expect(readdirSync(join(c.mountpoint, 'Docs')).sort()).toEqual(names);
  }, 120_000);

  test('a remote edit of a file with a pending local edit keeps both versions', async () => {
    writeFileSync(join(c.mountpoint, 'Docs', 'shared.txt'), 'shared, our edit');
    await change({ op: 'edit-file', path: 'Docs/shared.txt', content: 'shared, bob edit' });
    await synced(c, 'conflict');
    // the local edit wins locally until it is uploaded
    expect(readFileSync(join(c.mountpoint, 'Docs', 'shared.txt'), 'utf8')).toBe('shared, our edit');
    const flushed = await spfs(c, ['flush', c.mountpoint]);
    expect(flushed.stdout).toContain('everything is on the server');
    const copy = await eventually(
      () => readdirSync(join(b.mountpoint, 'Docs')).find((n) => /^shared \(conflict from .+\)\.txt$/.test(n)),
      'conflict copy on the server',
    );
    expect(readFileSync(join(b.mountpoint, 'Docs', copy), 'utf8')).toBe('shared, our edit');
    await eventually(
      () => (readOr(join(b.mountpoint, 'Docs', 'shared.txt')) === 'shared, bob edit' ? true : undefined),
      "bob's version under the name",
    );
    const onC = await eventually(
      () =>
        readOr(join(c.mountpoint, 'Docs', 'shared.txt')) === 'shared, bob edit'
          ? readdirSync(join(c.mountpoint, 'Docs'))
          : undefined,
      "bob's version on the writing mount",
    );
    expect(onC.filter((n) => n.startsWith('shared')).sort()).toEqual([copy, 'shared.txt'].sort());
  }, 120_000);

  test('offline: status says so; writes are journaled and readable; they land on the server when it returns', async () => {
    expect(await status(a)).toMatch(/^server: online since \d{4}-\d\d-\d\dT/m);
    await eventually(
      () => (readOr(join(a.mountpoint, 'Docs', 'plan.txt')) === 'plan v2, edited locally' ? true : undefined),
      'the current version before going offline',
    );
    await server.stop();
    const off = await eventually(async () => {
      const s = await status(a);
      return /server: offline since/.test(s) ? s : undefined;
    }, 'offline in spfs status');
    expect(off).toMatch(/last error: /);

    mkdirSync(join(a.mountpoint, 'Away'));
    writeFileSync(join(a.mountpoint, 'Away', 'note.txt'), 'written while offline');
    writeFileSync(join(a.mountpoint, 'Docs', 'plan.txt'), 'plan v3, offline edit');
    expect(readFileSync(join(a.mountpoint, 'Away', 'note.txt'), 'utf8')).toBe('written while offline');
    expect(readFileSync(join(a.mountpoint, 'Docs', 'plan.txt'), 'utf8')).toBe('plan v3, offline edit');
    const pending = await status(a);
    expect(pending).toMatch(/server: offline since/);
    expect(pending).toMatch(/pending uploads: 3 files/);
    expect(pending).toContain('/Away/note.txt');

    server = await startServer(['--port', port], server.password);
    await eventually(async () => (/server: online since/.test(await status(a)) ? true : undefined), 'online');
    const flushed = await spfs(a, ['flush', a.mountpoint]);
    expect(flushed.stdout).toContain('everything is on the server');
    await eventually(() => readOr(join(b.mountpoint, 'Away', 'note.txt')), 'offline file on the server');
    expect(readFileSync(join(b.mountpoint, 'Away', 'note.txt'), 'utf8')).toBe('written while offline');
    await eventually(
      () => (readOr(join(b.mountpoint, 'Docs', 'plan.txt')) === 'plan v3, offline edit' ? true : undefined),
      'offline edit on the server',
    );
    expect(await status(a)).toMatch(/pending uploads: 0 files/);
  }, 180_000);
});
