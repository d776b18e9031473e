// End to end: the server process dies (SIGKILL) under a mount that has been following another mount's changes.
// The mount serves what it has (listing, hydrated files), refuses content it never read with ENETUNREACH without
// waiting on a retry schedule, and comes back online when the server returns on the same data and port.
import {
  mkdirSync,
  promises as fsp,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { eventually as waitUntil, readOr } from '../helpers/eventually';
import {
  assertE2EPrerequisites,
  cleanupMounts,
  makeTempDir,
  mountUnder,
  runSpfs,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

/** Only guards against hangs; no timing is asserted. */
const EVENTUALLY_MS = 60_000;
const eventually = <T>(probe: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> =>
  waitUntil(probe, what, EVENTUALLY_MS, 100);

function has(dir: string, name: string): boolean {
  try {
    return readdirSync(dir).includes(name);
  } catch {
    return false;
  }
}

describe('the server process dies under a mount that follows another mount (child processes)', () => {
  let work: string;
  let server: ServerProcess;
  let port: string;
  const servers: ServerProcess[] = [];
  const mounts: MountProcess[] = [];
  let a: MountProcess;
  let b: MountProcess;

  async function startServer(extra: string[] = [], password?: string): Promise<ServerProcess> {
    const s = await startServerProcess({
      dataDir: join(work, 'data'),
      seedDir: join(work, 'seed'),
      ...(password !== undefined ? { password } : {}),
      extraArgs: extra,
    });
    servers.push(s);
    return s;
  }

  async function mount(name: string, extra: string[] = []): Promise<MountProcess> {
    const m = await mountUnder(server, work, name, extra);
    mounts.push(m);
    return m;
  }

  const status = async (m: MountProcess): Promise<string> =>
    (await runSpfs(['status', m.mountpoint], { SPFS_STATE_DIR: join(m.cacheDir, '..', 'state') })).stdout;

  /** Waits until B reads `text` at `rel`. */
  const seenOnB = (rel: string, text: string): Promise<true> =>
    eventually(() => (readOr(join(b.mountpoint, rel)) === text ? true : undefined), `${rel} on B`);

  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('server-gone');
    mkdirSync(join(work, 'seed', 'Docs'), { recursive: true });
    writeFileSync(join(work, 'seed', 'Docs', 'cold.txt'), 'never read before the server died');
    writeFileSync(join(work, 'seed', 'top.txt'), 'top');
    server = await startServer();
    port = new URL(server.url).port;
    a = await mount('a', ['--write-back', '0.2']);
    b = await mount('b');
  }, 60_000);

  afterAll(async () => {
    await cleanupMounts(mounts, [work], servers);
  }, 60_000);

  test('B follows A; the server is killed; B fails a cold open with ENETUNREACH and recovers on return', async () => {
    const A = a.mountpoint;
    const B = b.mountpoint;
    expect(readFileSync(join(B, 'top.txt'), 'utf8')).toBe('top'); // hydrated on B while online

    writeFileSync(join(A, 'Docs', 'made.txt'), 'made by A');
    await seenOnB('Docs/made.txt', 'made by A');
    writeFileSync(join(A, 'Docs', 'made.txt'), 'edited by A');
    await seenOnB('Docs/made.txt', 'edited by A');
    renameSync(join(A, 'Docs', 'made.txt'), join(A, 'Docs', 'renamed.txt'));
    await seenOnB('Docs/renamed.txt', 'edited by A');
    expect(has(join(B, 'Docs'), 'made.txt')).toBe(false);
    writeFileSync(join(A, 'doomed.txt'), 'soon gone');
    await seenOnB('doomed.txt', 'soon gone');
    unlinkSync(join(A, 'doomed.txt'));
    await eventually(() => (has(B, 'doomed.txt') ? undefined : true), 'delete on B');
    expect((await a.unmount()).code).toBe(0);
    expect(await status(b)).toMatch(/^server: online since/m);

    const died = new Promise((r) => server.child.once('exit', r));
    server.child.kill('SIGKILL');
    await died;

    expect(readdirSync(join(B, 'Docs')).sort()).toEqual(['cold.txt', 'renamed.txt']);
    expect(readFileSync(join(B, 'top.txt'), 'utf8')).toBe('top');
    await expect(fsp.readFile(join(B, 'Docs', 'cold.txt'))).rejects.toMatchObject({ code: 'ENETUNREACH' });
    // It failed because the mount knew it was offline, not after a request ran out of retries.
    expect(await status(b)).toMatch(/^server: offline since .*\(last error: /m);
    // Still offline: hydrated content reads, writes are journaled.
    expect(readFileSync(join(B, 'Docs', 'renamed.txt'), 'utf8')).toBe('edited by A');
    writeFileSync(join(B, 'Docs', 'offline.txt'), 'written while the server was gone');
    expect(await status(b)).toMatch(/pending uploads: 1 files/);

    server = await startServer(['--port', port], server.password);
    await eventually(
      async () => (/^server: online since/m.test(await status(b)) ? true : undefined),
      'online',
    );
    expect(readFileSync(join(B, 'Docs', 'cold.txt'), 'utf8')).toBe('never read before the server died');
    await eventually(
      async () => (/pending uploads: 0 files/.test(await status(b)) ? true : undefined),
      'upload',
    );
  }, 180_000);
});
