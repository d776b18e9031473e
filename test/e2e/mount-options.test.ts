// End to end: mount options as sshfs and fstab users give them — a real `mount -t fuse.spfs ... -o ...` through the
// mount(8) helper and `umount`, -o on both FUSE adapters, a mount by profile, and -o password refused. Child
// processes, the real reference server, real FUSE.
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  assertE2EPrerequisites,
  daemonPids,
  forceCleanup,
  isMounted,
  makeTempDir,
  processAlive,
  ROOT,
  runSpfs,
  startServerProcess,
  waitForExit,
  type RunResult,
  type ServerProcess,
} from '../helpers/spfs-processes';

const exec = promisify(execFile);

/** /proc/mounts options of the mount at `dir`. */
function mountOptions(dir: string): string[] {
  const line = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[1] === dir);
  return line?.split(' ')[3]?.split(',') ?? [];
}

function writeErrno(file: string): string {
  try {
    writeFileSync(file, 'x');
    return 'no error';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  try {
    const r = await exec(cmd, args, { env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('mount options (-o, mount -t fuse.spfs, profiles)', () => {
  let work: string;
  let server: ServerProcess;
  let credFile: string;
  let env: NodeJS.ProcessEnv;
  const mounts: string[] = [];

  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('e2e-options');
    const seed = join(work, 'seed');
    mkdirSync(join(seed, 'Docs'), { recursive: true });
    writeFileSync(join(seed, 'a.txt'), 'alpha\n');
    writeFileSync(join(seed, 'Docs', 'b.txt'), 'bravo\n');
    server = await startServerProcess({ dataDir: join(work, 'server'), seedDir: seed });
    credFile = join(work, 'spfs.cred');
    writeFileSync(credFile, `user=${server.user}\npassword=${server.password}\n`, { mode: 0o600 });
    env = { SPFS_STATE_DIR: join(work, 'state') };
  });

  afterAll(async () => {
    for (const m of mounts) if (isMounted(m)) await runSpfs(['unmount', m], env);
    await forceCleanup(mounts, [work], [server]);
  });

  function mountpoint(name: string): string {
    const dir = join(work, `mnt-${name}`);
    mkdirSync(dir, { recursive: true });
    mounts.push(dir);
    return dir;
  }

  it('mount -t fuse.spfs with -o options (as in /etc/fstab), then umount DIR stops the daemon', async () => {
    if (process.getuid?.() !== 0)
      throw new Error(
        'this test runs mount(8) and installs /sbin/mount.fuse.spfs: run it as root (CI does), e.g. sudo npx jest test/e2e/mount-options.test.ts',
      );
    execFileSync('bash', [join(ROOT, 'scripts', 'install-mount-helper.sh')], { stdio: 'pipe' });
    expect(readFileSync('/sbin/mount.fuse.spfs', 'utf8')).toContain(join(ROOT, 'bin', 'mount.spfs'));
    const dir = mountpoint('fstab');
    const cacheDir = join(work, 'cache-fstab');
    const opts = [
      '_netdev',
      'x-systemd.automount',
      'nofail',
      'ro',
      'uid=4321',
      'gid=8765',
      'umask=027',
      'cache_size=20G',
      `credentials_file=${credFile}`,
      `cache_dir=${cacheDir}`,
    ].join(',');
    const r = await run('mount', ['-t', 'fuse.spfs', server.url, dir, '-o', opts], env);
    expect(r).toMatchObject({ code: 0 });
    expect(isMounted(dir)).toBe(true);
    expect(mountOptions(dir)).toContain('ro');
    const file = statSync(join(dir, 'a.txt'));
    const folder = statSync(join(dir, 'Docs'));
    expect([file.uid, file.gid, file.mode & 0o777]).toEqual([4321, 8765, 0o640]);
    expect([folder.uid, folder.gid, folder.mode & 0o777]).toEqual([4321, 8765, 0o750]);
    expect(readFileSync(join(dir, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(writeErrno(join(dir, 'new.txt'))).toBe('EROFS');
    expect(writeErrno(join(dir, 'a.txt'))).toBe('EROFS');
    // The daemon got every option as a flag, and no password.
    const pids = daemonPids(cacheDir);
    expect(pids).toHaveLength(1);
    const argv = readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0');
    expect(argv).toEqual(
      expect.arrayContaining(['--read-only', '--uid', '4321', '--umask', '027', '--cache-size']),
    );
    expect(argv.join(' ')).not.toContain(server.password);

    const u = await run('umount', [dir], env);
    expect(u).toMatchObject({ code: 0 });
    expect(isMounted(dir)).toBe(false);
    await waitForExit(pids, 30_000);
    expect(pids.filter(processAlive)).toEqual([]);
  });

  it.each(['3', '2'])(
    '-o ro,allow_other,default_permissions,uid,gid,umask reach the kernel and the core (--fuse %s)',
    async (adapter) => {
      const dir = mountpoint(`adapter-${adapter}`);
      const r = await runSpfs(
        [
          'mount',
          server.url,
          dir,
          '-o',
          `fuse=${adapter},ro,allow_other,default_permissions,uid=1234,gid=2345,umask=077`,
          '-o',
          `credentials_file=${credFile},cache_dir=${join(work, `cache-${adapter}`)}`,
        ],
        env,
      );
      expect(r).toMatchObject({ code: 0 });
      expect(mountOptions(dir)).toEqual(expect.arrayContaining(['ro', 'default_permissions', 'allow_other']));
      const file = statSync(join(dir, 'Docs', 'b.txt'));
      expect([file.uid, file.gid, file.mode & 0o777]).toEqual([1234, 2345, 0o600]);
      expect(writeErrno(join(dir, 'Docs', 'new.txt'))).toBe('EROFS');
      const status = await runSpfs(['status', dir], env);
      expect(status.stdout).toContain(adapter === '3' ? 'libfuse3' : 'fuse-native');
      expect(await runSpfs(['unmount', dir], env)).toMatchObject({ code: 0 });
      expect(isMounted(dir)).toBe(false);
    },
  );

  it('mounts a profile by name; SPFS_* variables and flags override its keys', async () => {
    const config = join(work, 'xdg');
    mkdirSync(join(config, 'spfs'), { recursive: true });
    const file = join(config, 'spfs', 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        profiles: {
          work: {
            url: server.url,
            credentials_file: credFile,
            cache_dir: join(work, 'cache-profile'),
            umask: '027',
            uid: 1111,
          },
        },
      }),
    );
    chmodSync(file, 0o600);
    const dir = mountpoint('profile');
    const r = await runSpfs(['mount', 'work', dir, '--uid', '2222'], {
      ...env,
      XDG_CONFIG_HOME: config,
      SPFS_UMASK: '077',
    });
    expect(r).toMatchObject({ code: 0 });
    const st = statSync(join(dir, 'a.txt'));
    expect([st.uid, st.mode & 0o777]).toEqual([2222, 0o600]); // the flag and the variable won over the profile
    writeFileSync(join(dir, 'from-profile.txt'), 'written\n'); // a writable mount: no ro anywhere
    expect(await runSpfs(['unmount', dir], env)).toMatchObject({ code: 0 });
    const listing = await runSpfs(['mount', 'work', dir], { ...env, XDG_CONFIG_HOME: config });
    expect(listing).toMatchObject({ code: 0 });
    expect(readFileSync(join(dir, 'from-profile.txt'), 'utf8')).toBe('written\n');
    expect(statSync(join(dir, 'a.txt')).mode & 0o777).toBe(0o640); // the profile's umask alone
    expect(await runSpfs(['unmount', dir], env)).toMatchObject({ code: 0 });

    chmodSync(file, 0o666);
    const refused = await runSpfs(['mount', 'work', dir], { ...env, XDG_CONFIG_HOME: config });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${file} is writable by others`);
    expect(isMounted(dir)).toBe(false);
  });

  it('refuses -o password and unknown -o names before mounting', async () => {
    const dir = mountpoint('refused');
    const pw = await runSpfs(
      ['mount', server.url, dir, '-o', `user=${server.user},password=${server.password}`],
      env,
    );
    expect(pw.code).toBe(2);
    expect(pw.stderr).toContain('-o password: a password is never taken from the command line or -o');
    expect(pw.stderr).not.toContain(server.password);
    const unknown = await runSpfs(['mount', server.url, dir, '-o', 'ro,frobnicate=1'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('-o frobnicate: unknown option');
    expect(isMounted(dir)).toBe(false);
  });
});
