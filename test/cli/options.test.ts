// The options table and its sources as plain functions: -o lists, SPFS_* variables, profiles of the config file,
// the precedence flags > -o > env > profile > defaults, and what the detached daemon is told.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFilePath, loadProfile, parseProfile } from '../../src/cli/config-file';
import {
  daemonArgs,
  fromEnvironment,
  fromFlags,
  fromMountOptions,
  resolveSettings,
  withoutOptionVariables,
  type GivenOptions,
} from '../../src/cli/option-sources';
import { formatValue, MOUNT_OPTIONS, SETTING_KEYS, specOf } from '../../src/cli/options-table';
import { assertAllowOtherPermitted, fuseConfAllowsOther } from '../../src/cli/system-checks';
import { mountHelperArgs, umountHelperArgs } from '../../src/cli/mount-helper-args';
import { UsageError } from '../../src/cli/usage-error';

const FILE = '/home/alice/.config/spfs/config.json';
const none: GivenOptions = new Map();

function usageMessage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error('no error');
}

describe('the options table', () => {
  it('names each option once: keys are commander camelCase of the flag, -o names and variables unique', () => {
    const camel = (flag: string): string =>
      flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    for (const key of SETTING_KEYS) expect(camel(MOUNT_OPTIONS[key].flag)).toBe(key);
    const oNames = SETTING_KEYS.map((k) => MOUNT_OPTIONS[k].oName);
    const envs = SETTING_KEYS.map((k) => MOUNT_OPTIONS[k].env);
    expect(new Set(oNames).size).toBe(oNames.length);
    expect(new Set(envs).size).toBe(envs.length);
    for (const k of SETTING_KEYS) {
      expect(MOUNT_OPTIONS[k].oName).toMatch(/^[a-z][a-z_]*$/);
      expect(MOUNT_OPTIONS[k].env).toBe(`SPFS_${MOUNT_OPTIONS[k].oName.toUpperCase()}`);
    }
  });

  it('reads back what it formats, for every default', () => {
    for (const key of SETTING_KEYS) {
      const spec = specOf(key);
      if (spec.default === undefined) continue;
      expect(spec.parse(formatValue(key, spec.default))).toEqual(spec.default);
    }
  });

  it('parses sizes, seconds, ids, masks and choices, and says what it expected', () => {
    expect(MOUNT_OPTIONS.cacheSize.parse('20G')).toBe(20 * 1024 ** 3);
    expect(MOUNT_OPTIONS.writeBack.parse('0.5')).toBe(0.5);
    expect(MOUNT_OPTIONS.umask.parse('027')).toBe(0o027);
    expect(MOUNT_OPTIONS.uid.parse('1000')).toBe(1000);
    expect(MOUNT_OPTIONS.credentialsFile.parse('~/x.cred')).toBe(join(homedir(), 'x.cred'));
    expect(() => MOUNT_OPTIONS.cacheSize.parse('0')).toThrow(/positive/);
    expect(() => MOUNT_OPTIONS.pollInterval.parse('1.5')).toThrow(/whole number of seconds/);
    expect(() => MOUNT_OPTIONS.umask.parse('999')).toThrow(/octal/);
    expect(() => MOUNT_OPTIONS.uid.parse('alice')).toThrow(/numeric id/);
    expect(() => MOUNT_OPTIONS.hydrate.parse('some')).toThrow(/ranges, full/);
    expect(() => MOUNT_OPTIONS.readOnly.parse('maybe')).toThrow(/true or false/);
  });
});

describe('-o lists', () => {
  it('takes switches alone, name=value pairs and several -o', () => {
    const o = fromMountOptions(['ro,uid=1000,gid=100', 'umask=027,cache_size=20G,allow_other']);
    expect(Object.fromEntries([...o].map(([k, v]) => [k, v.text]))).toEqual({
      readOnly: 'true',
      uid: '1000',
      gid: '100',
      umask: '027',
      cacheSize: '20G',
      allowOther: 'true',
    });
    expect(o.get('uid')?.where).toBe('-o uid');
  });

  it("skips mount(8)'s generic options, x-* and comment=, but takes user=NAME", () => {
    const o = fromMountOptions([
      '_netdev,auto,noauto,user,nouser,users,nofail,rw,defaults,dev,nodev,suid,nosuid,exec,noexec',
      'x-systemd.automount,x-systemd.idle-timeout=60,comment=systemd.automount,user=alice',
    ]);
    expect([...o.keys()]).toEqual(['user']);
    expect(o.get('user')?.text).toBe('alice');
  });

  it('refuses unknown names, a missing value and any password', () => {
    expect(usageMessage(() => fromMountOptions(['ro,frobnicate']))).toMatch(/-o frobnicate: unknown option/);
    expect(usageMessage(() => fromMountOptions(['cache_size']))).toMatch(/-o cache_size needs a value/);
    const pw = usageMessage(() => fromMountOptions(['user=alice,password=hunter2']));
    expect(pw).toMatch(/-o password: a password is never taken/);
    expect(pw).toMatch(/password_env=VAR or credentials_file=FILE/);
    expect(pw).not.toContain('hunter2');
  });
});

describe('precedence: flags > -o > SPFS_* > profile > defaults', () => {
  const flags = fromFlags({ cacheSize: '1G' });
  const o = fromMountOptions(['cache_size=2G,uid=2']);
  const env = fromEnvironment({ SPFS_CACHE_SIZE: '3G', SPFS_UID: '3', SPFS_GID: '3', SPFS_HYDRATE: '' });
  const profile = parseProfile(
    'p',
    JSON.stringify({ profiles: { p: { url: 'https://x', cache_size: '4G', uid: 4, gid: 4, umask: '077' } } }),
    FILE,
  ).options;

  it('takes each option from the first source that gives it, else the default', () => {
    const r = resolveSettings([flags, o, env, profile]);
    expect(r.values.cacheSize).toBe(1024 ** 3);
    expect(r.values.uid).toBe(2);
    expect(r.values.gid).toBe(3);
    expect(r.values.umask).toBe(0o077);
    expect(r.values.hydrate).toBe('ranges'); // an empty variable counts as not set
    expect(r.values.readOnly).toBe(false);
    expect(r.values.writeBack).toBe(3);
    expect(r.given.has('hydrate')).toBe(false);
    expect(resolveSettings([none, none, env, profile]).values.cacheSize).toBe(3 * 1024 ** 3);
    expect(resolveSettings([none, none, none, profile]).values.cacheSize).toBe(4 * 1024 ** 3);
    expect(resolveSettings([none, none, none, none]).values.cacheSize).toBe(10 * 1024 ** 3);
  });

  it('names where a bad value was given', () => {
    expect(usageMessage(() => resolveSettings([none, fromMountOptions(['uid=me'])]))).toMatch(
      /^-o uid: expected a numeric id/,
    );
    expect(usageMessage(() => resolveSettings([fromEnvironment({ SPFS_UMASK: '8' })]))).toMatch(
      /^SPFS_UMASK: expected an octal mask/,
    );
    expect(usageMessage(() => resolveSettings([fromFlags({ hydrate: 'all' })]))).toMatch(
      /^--hydrate: expected one of ranges, full/,
    );
    const bad = parseProfile(
      'w',
      JSON.stringify({ profiles: { w: { url: 'https://x', cache_size: 'lots' } } }),
      FILE,
    );
    expect(usageMessage(() => resolveSettings([bad.options]))).toBe(
      `profile "w" of ${FILE}, key "cache_size": size: not a size: "lots" (e.g. 512M, 10G)`,
    );
  });

  it('gives the daemon every option given, as flags, and strips the variables it would read again', () => {
    const r = resolveSettings([fromFlags({ foreground: true }), o, env, profile]);
    const args = daemonArgs(r, ['foreground']);
    expect(args).toEqual([
      '--cache-size',
      String(2 * 1024 ** 3),
      '--uid',
      '2',
      '--gid',
      '3',
      '--umask',
      '077',
    ]);
    expect(daemonArgs(resolveSettings([fromMountOptions(['ro,insecure=false'])]), [])).toEqual([
      '--read-only',
    ]);
    const env2 = withoutOptionVariables({ SPFS_UID: '1', SPFS_FUSE: '2', SPFS_STATE_DIR: '/s', HOME: '/h' });
    expect(env2).toEqual({ SPFS_STATE_DIR: '/s', HOME: '/h' });
  });
});

describe('profiles of the config file', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'spfs-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('lives in $XDG_CONFIG_HOME/spfs/config.json, else ~/.config', () => {
    expect(configFilePath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/spfs/config.json');
    expect(configFilePath({})).toBe(join(homedir(), '.config', 'spfs', 'config.json'));
  });

  it('reads a profile: url and options under their -o names, paths with ~/ expanded later by the table', () => {
    const file = join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        profiles: {
          work: {
            url: 'https://sp.example.com/sites/team',
            cache_size: '20G',
            user: 'alice',
            credentials_file: '~/w.cred',
            ro: true,
          },
        },
      }),
      { mode: 0o600 },
    );
    const p = loadProfile('work', file);
    expect(p.url).toBe('https://sp.example.com/sites/team');
    const r = resolveSettings([p.options]);
    expect(r.values).toMatchObject({
      cacheSize: 20 * 1024 ** 3,
      user: 'alice',
      credentialsFile: join(homedir(), 'w.cred'),
      readOnly: true,
    });
  });

  it('refuses a config file others may write', () => {
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ profiles: { w: { url: 'https://x' } } }));
    chmodSync(file, 0o664);
    expect(usageMessage(() => loadProfile('w', file))).toBe(
      `${file} is writable by others (mode 664): run chmod go-w ${file}`,
    );
    chmodSync(file, 0o644);
    expect(loadProfile('w', file).url).toBe('https://x');
  });

  it('says which key of which file is wrong', () => {
    const parse = (doc: unknown, name = 'w'): string =>
      usageMessage(() => parseProfile(name, JSON.stringify(doc), FILE));
    expect(parse({ profiles: { w: { url: 'https://x', cache_sise: '1G' } } })).toBe(
      `profile "w" of ${FILE}: unknown key "cache_sise" (the keys are the -o names of docs/CONFIGURATION.md)`,
    );
    expect(parse({ profiles: { w: { url: 'https://x', password: 'secret' } } })).toMatch(
      new RegExp(`^profile "w" of ${FILE}: key "password": a password is never taken`),
    );
    expect(parse({ profiles: { w: { cache_size: '1G' } } })).toBe(`profile "w" of ${FILE}: no "url"`);
    expect(parse({ profiles: { w: { url: 'ftp://x' } } })).toMatch(/key "url" must be an http\(s\) URL/);
    expect(parse({ profiles: { w: { url: 'https://x', uid: [1] } } })).toMatch(
      /key "uid" must be a string, number or boolean/,
    );
    expect(parse({ profiles: { a: { url: 'https://x' } } }, 'b')).toBe(
      `b is neither an http(s) URL nor a profile of ${FILE} (profiles: a)`,
    );
    expect(parse({ profile: {} })).toBe(`${FILE}: unknown key "profile" (only "profiles")`);
    expect(usageMessage(() => parseProfile('w', '{"profiles": {', FILE))).toMatch(
      new RegExp(`^${FILE}: not valid JSON`),
    );
  });

  it('says so when there is no config file', () => {
    expect(usageMessage(() => loadProfile('w', join(dir, 'none.json')))).toMatch(
      /w is neither an http\(s\) URL nor a profile: .* cannot be read/,
    );
  });
});

describe('allow_other', () => {
  it('needs user_allow_other in /etc/fuse.conf unless root', () => {
    expect(fuseConfAllowsOther('# user_allow_other\nmount_max = 1000\n')).toBe(false);
    expect(fuseConfAllowsOther('mount_max = 1000\n  user_allow_other  \n')).toBe(true);
    expect(() => assertAllowOtherPermitted(0, () => '')).not.toThrow();
    expect(() => assertAllowOtherPermitted(1000, () => 'user_allow_other\n')).not.toThrow();
    expect(usageMessage(() => assertAllowOtherPermitted(1000, () => '#user_allow_other\n'))).toMatch(
      /allow_other: \/etc\/fuse.conf lacks user_allow_other/,
    );
  });
});

describe('mount(8) and umount(8) helper arguments', () => {
  it('turns mount.fuse.spfs SOURCE DIR [-sfnv] [-o OPTS] [-t TYPE] into spfs mount', () => {
    expect(mountHelperArgs(['https://x', '/mnt/x', '-o', 'rw,ro,uid=1', '-n', '-t', 'fuse.spfs'])).toEqual({
      spfsArgs: ['mount', 'https://x', '/mnt/x', '-o', 'rw,ro,uid=1'],
      fake: false,
    });
    expect(mountHelperArgs(['-sv', 'https://x', '/mnt/x', '-oro'])).toEqual({
      spfsArgs: ['mount', 'https://x', '/mnt/x', '-o', 'ro'],
      fake: false,
    });
    expect(mountHelperArgs(['https://x', '/mnt/x', '-f'])).toMatchObject({ fake: true });
    expect(mountHelperArgs(['https://x'])).toBe('expected SOURCE and DIR');
    expect(mountHelperArgs(['https://x', '/m', '-o'])).toBe('-o needs a value');
  });

  it('turns umount.fuse.spfs DIR [-flnrv] [-t TYPE] into spfs unmount', () => {
    expect(umountHelperArgs(['/mnt/x', '-n', '-t', 'fuse.spfs'])).toEqual({
      spfsArgs: ['unmount', '/mnt/x'],
      fake: false,
    });
    expect(umountHelperArgs(['-f', '/mnt/x'])).toEqual({
      spfsArgs: ['unmount', '/mnt/x', '--force'],
      fake: false,
    });
    expect(umountHelperArgs([])).toBe('expected DIR');
  });
});
