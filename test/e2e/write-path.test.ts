// The write path through a real mount (child processes): file operations, save patterns, names, and durability —
// a daemon killed with SIGKILL right after close() of 50 files loses none of them. Checked through a second mount
// with its own cache, i.e. through the server.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertE2EPrerequisites,
  daemonPids,
  forceCleanup,
  makeTempDir,
  mountLibrary,
  mountUnder,
  processAlive,
  runSpfs,
  startServerProcess,
  type ServerProcess,
  waitForExit,
} from '../helpers/spfs-processes';

jest.setTimeout(120_000);

describe('write path (real mount)', () => {
  let base: string;
  let server: ServerProcess;
  const mountpoints: string[] = [];

  beforeAll(async () => {
    assertE2EPrerequisites();
    base = makeTempDir('write');
    mkdirSync(join(base, 'data'));
    server = await startServerProcess({ dataDir: join(base, 'data') });
  });
  afterAll(async () => forceCleanup(mountpoints, [base], [server]));

  async function mount(name: string, extra: string[] = []): Promise<{ dir: string; cache: string }> {
    const m = await mountUnder(server, base, name, extra, mountpoints);
    return { dir: m.mountpoint, cache: m.cacheDir };
  }

  function unmount(dir: string, cache: string, force = false): ReturnType<typeof runSpfs> {
    return runSpfs(['unmount', dir, ...(force ? ['--force'] : [])], {
      SPFS_STATE_DIR: join(cache, '..', 'state'),
    });
  }

  it('creates, writes, appends, truncates, renames and deletes; a fresh mount sees the result', async () => {
    const a = await mount('ops', ['--write-back', '0.2']);
    const d = a.dir;
    writeFileSync(join(d, 'a.txt'), 'hello');
    writeFileSync(join(d, 'a.txt'), ' world', { flag: 'a' });
    expect(readFileSync(join(d, 'a.txt'), 'utf8')).toBe('hello world');
    mkdirSync(join(d, 'folder'));
    writeFileSync(join(d, 'folder', 'b.txt'), 'bbbbbbbbbb');
    execFileSync('truncate', ['-s', '4', join(d, 'folder', 'b.txt')]);
    renameSync(join(d, 'folder', 'b.txt'), join(d, 'c.txt'));
    writeFileSync(join(d, 'gone.txt'), 'x');
    rmSync(join(d, 'gone.txt'));
    // vim-like save: write a new file, rename it over the original
    writeFileSync(join(d, 'a.txt.new'), 'saved by an editor');
    renameSync(join(d, 'a.txt.new'), join(d, 'a.txt'));
    expect(() => mkdirSync(join(d, 'bad:name'))).toThrow(/EINVAL/);
    writeFileSync(join(d, 'folder', 'keep.txt'), 'k');
    expect(() => execFileSync('rmdir', [join(d, 'folder')], { stdio: 'pipe' })).toThrow();
    expect((await unmount(d, a.cache)).code).toBe(0);

    const b = await mount('check');
    expect(readdirSync(b.dir).sort()).toEqual(['a.txt', 'c.txt', 'folder']);
    expect(readFileSync(join(b.dir, 'a.txt'), 'utf8')).toBe('saved by an editor');
    expect(readFileSync(join(b.dir, 'c.txt'), 'utf8')).toBe('bbbb');
    expect(readFileSync(join(b.dir, 'folder', 'keep.txt'), 'utf8')).toBe('k');
    expect((await unmount(b.dir, b.cache)).code).toBe(0);
  });

  it('SIGKILL right after close() of 50 files loses none of them (resumed at the next mount)', async () => {
    const a = await mount('kill', ['--write-back', '600']);
    const files = Array.from({ length: 50 }, (_, i) => `k${i}.txt`);
    mkdirSync(join(a.dir, 'kill'));
    for (const f of files) writeFileSync(join(a.dir, 'kill', f), `content of ${f}\n`);
    const pids = daemonPids(a.cache);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await waitForExit(pids, 30_000);
    expect(pids.filter(processAlive)).toEqual([]);
    execFileSync('fusermount', ['-u', '-z', a.dir]);
    // No lock workaround: the dead daemon's lock (its pid is gone) is taken over at once by the next mount.
    await mountLibrary(server, a.dir, a.cache, ['--write-back', '0']);
    const flushed = await runSpfs(['flush', a.dir], { SPFS_STATE_DIR: join(a.cache, '..', 'state') });
    expect(flushed.stdout).toContain('everything is on the server');
    expect((await unmount(a.dir, a.cache)).code).toBe(0);

    const b = await mount('kill-check');
    expect(readdirSync(join(b.dir, 'kill')).sort()).toEqual([...files].sort());
    for (const f of files) expect(readFileSync(join(b.dir, 'kill', f), 'utf8')).toBe(`content of ${f}\n`);
    expect((await unmount(b.dir, b.cache)).code).toBe(0);
    expect(existsSync(join(a.cache, 'dirty'))).toBe(true);
    expect(readdirSync(join(a.cache, 'dirty'))).toEqual([]);
  });
});
