// docs/spfs@.service: checked by systemd-analyze, its ExecStart/ExecStop command lines run as systemd would run
// them (specifiers expanded, against bin/spfs serve), and, where a systemd user manager runs, started and stopped
// with systemctl --user. Without one, that last test is skipped and says why (the one skip this suite allows).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../helpers/eventually';
import {
  assertE2EPrerequisites,
  forceCleanup,
  isMounted,
  makeTempDir,
  ROOT,
  runSpfs,
  startServerProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

const UNIT = join(ROOT, 'docs', 'spfs@.service');
const MOUNT_WAIT_MS = 60_000;

/** Why `systemctl --user` cannot run units here, or undefined when it can. */
function systemdUnavailable(): string | undefined {
  const init = spawnSync('ps', ['-p', '1', '-o', 'comm='], { encoding: 'utf8' }).stdout.trim();
  if (init !== 'systemd') return `process 1 is ${JSON.stringify(init)}, not systemd`;
  const r = spawnSync('systemctl', ['--user', 'show-environment'], { encoding: 'utf8' });
  if (r.status !== 0) return `systemctl --user does not work: ${(r.stderr || r.error?.message || '').trim()}`;
  return undefined;
}
const noSystemd = systemdUnavailable();
if (noSystemd !== undefined)
  process.stderr.write(`systemd-unit.test.ts: skipping the systemctl --user test: ${noSystemd}\n`);

/** The unit's [Service] values for `key` (Environment= may repeat). */
function serviceValues(unit: string, key: string): string[] {
  return unit
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

/** A command line as systemd splits it (single-quoted words), with %f, %h and $$ expanded. */
function commandLine(value: string, mountpoint: string): string[] {
  const words = [...value.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
  return words.map((w) => w.replace(/%f/g, mountpoint).replace(/%h/g, homedir()).replace(/\$\$/g, '$'));
}

/** The unit's Environment= lines, with SPFS pointing at this checkout's bin/spfs. */
function unitEnvironment(unit: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of serviceValues(unit, 'Environment')) {
    const eq = v.indexOf('=');
    env[v.slice(0, eq)] = v.slice(eq + 1).replace(/%h/g, homedir());
  }
  return { ...env, SPFS: join(ROOT, 'bin', 'spfs'), PATH: `${env.PATH ?? ''}:${process.env.PATH ?? ''}` };
}

describe('docs/spfs@.service', () => {
  let work: string;
  let server: ServerProcess;
  let env: NodeJS.ProcessEnv;
  const mounts: string[] = [];
  const unit = readFileSync(UNIT, 'utf8');

  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('e2e-systemd');
    const seed = join(work, 'seed');
    mkdirSync(seed);
    writeFileSync(join(seed, 'hello.txt'), 'from the unit\n');
    server = await startServerProcess({ dataDir: join(work, 'server'), seedDir: seed });
    const cred = join(work, 'lib.cred');
    writeFileSync(cred, `user=${server.user}\npassword=${server.password}\n`, { mode: 0o600 });
    const config = join(work, 'xdg', 'spfs', 'config.json');
    mkdirSync(join(work, 'xdg', 'spfs'), { recursive: true });
    // The profile is named like the mountpoint's last component: spfs@...-lib.service mounts "lib" on .../lib.
    writeFileSync(
      config,
      JSON.stringify({
        profiles: { lib: { url: server.url, credentials_file: cred, cache_dir: join(work, 'cache') } },
      }),
    );
    chmodSync(config, 0o600);
    env = { XDG_CONFIG_HOME: join(work, 'xdg'), SPFS_STATE_DIR: join(work, 'state') };
  });

  afterAll(async () => {
    for (const m of mounts) if (isMounted(m)) await runSpfs(['unmount', m], env);
    await forceCleanup(mounts, [work], [server]);
  });

  it('passes systemd-analyze verify', () => {
    const dir = join(work, 'verify');
    mkdirSync(dir);
    writeFileSync(join(dir, 'spfs@.service'), unit);
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'spfs@mnt-lib.service')], {
      encoding: 'utf8',
    });
    if (r.error) throw new Error(`systemd-analyze is missing (Debian package systemd): ${r.error.message}`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('its ExecStart mounts the profile in the foreground and its ExecStop unmounts it', async () => {
    const mountpoint = join(work, 'mnt', 'lib');
    mounts.push(mountpoint);
    const instance = execFileSync('systemd-escape', ['--path', mountpoint], { encoding: 'utf8' }).trim();
    expect(
      execFileSync('systemd-escape', ['--unescape', '--path', instance], { encoding: 'utf8' }).trim(),
    ).toBe(mountpoint);
    const unitEnv = { ...process.env, ...env, ...unitEnvironment(unit) };
    const run = (key: string): ReturnType<typeof spawn> => {
      const [cmd, ...args] = commandLine(serviceValues(unit, key)[0] ?? '', mountpoint);
      return spawn(cmd ?? '', args, { env: unitEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    };
    const pre = commandLine(serviceValues(unit, 'ExecStartPre')[0] ?? '', mountpoint);
    execFileSync(pre[0] ?? '', pre.slice(1));
    const service = run('ExecStart');
    let output = '';
    service.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    service.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((r) => service.once('exit', (code) => r(code)));
    try {
      await eventually(
        () => (isMounted(mountpoint) ? true : undefined),
        `the unit's mount (${output})`,
        MOUNT_WAIT_MS,
      );
      expect(readFileSync(join(mountpoint, 'hello.txt'), 'utf8')).toBe('from the unit\n');
      // The daemon says so once mounted and recorded: just after the mount shows in the mount table.
      await eventually(
        () => (output.includes(`mounted at ${mountpoint}`) ? true : undefined),
        `the unit's ready line (${output})`,
        MOUNT_WAIT_MS,
      );
      const stop = run('ExecStop');
      const stopped = await new Promise<number | null>((r) => stop.once('exit', (code) => r(code)));
      expect(stopped).toBe(0);
      expect(await exited).toBe(0); // the foreground daemon (what systemd watches) ended with the unmount
      expect(isMounted(mountpoint)).toBe(false);
    } finally {
      if (service.exitCode === null) service.kill('SIGTERM');
    }
  });

  (noSystemd === undefined ? it : it.skip)(
    `starts and stops with systemctl --user${noSystemd !== undefined ? ` (skipped: ${noSystemd})` : ''}`,
    async () => {
      const mountpoint = join(work, 'sd', 'lib');
      mounts.push(mountpoint);
      const instance = execFileSync('systemd-escape', ['--path', mountpoint], { encoding: 'utf8' }).trim();
      const runtimeDir = process.env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? 0}`;
      const unitDir = join(runtimeDir, 'systemd', 'user');
      const unitFile = join(unitDir, 'spfs@.service');
      // The unit as documented, with this checkout's spfs and the test's config and state folders.
      const extra = [
        `Environment=SPFS=${join(ROOT, 'bin', 'spfs')}`,
        `Environment=XDG_CONFIG_HOME=${env.XDG_CONFIG_HOME ?? ''}`,
        `Environment=SPFS_STATE_DIR=${env.SPFS_STATE_DIR ?? ''}`,
        `Environment=PATH=${process.env.PATH ?? ''}`,
      ].join('\n');
      mkdirSync(unitDir, { recursive: true });
      writeFileSync(unitFile, unit.replace(/^Restart=.*$/m, `Restart=no\n${extra}`));
      const ctl = (...args: string[]): string =>
        execFileSync('systemctl', ['--user', ...args], { encoding: 'utf8' });
      try {
        ctl('daemon-reload');
        ctl('start', `spfs@${instance}.service`);
        await eventually(
          () => (isMounted(mountpoint) ? true : undefined),
          'the mount of the unit',
          MOUNT_WAIT_MS,
        );
        expect(readFileSync(join(mountpoint, 'hello.txt'), 'utf8')).toBe('from the unit\n');
        ctl('stop', `spfs@${instance}.service`);
        expect(isMounted(mountpoint)).toBe(false);
        expect(spawnSync('systemctl', ['--user', 'is-active', `spfs@${instance}.service`]).status).not.toBe(
          0,
        );
      } finally {
        spawnSync('systemctl', ['--user', 'stop', `spfs@${instance}.service`]);
        rmSync(unitFile, { force: true });
        spawnSync('systemctl', ['--user', 'daemon-reload']);
      }
    },
  );
});
