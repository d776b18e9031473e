// The one table of `spfs mount` options. The commander definition, the `-o` parser, the SPFS_* environment reader,
// the profile reader (config-file.ts) and docs/CONFIGURATION.md (npm run docs:config) all come from it.
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { AUTH_SCHEMES, type AuthScheme } from './auth-options';
import { DEFAULT_PREFETCH_FILES } from '../sync/sibling-prefetch';
import { parseSize } from './size-option';

/** Every option's value once parsed. The keys are commander's camelCase of the long flag. */
export interface MountSettings {
  cacheDir: string;
  cacheSize: number;
  cacheMinFree: number;
  hydrate: 'ranges' | 'full';
  prefetchFiles: number;
  writeBack: number;
  pollInterval: number;
  readOnly: boolean;
  allowOther: boolean;
  defaultPermissions: boolean;
  uid: number;
  gid: number;
  umask: number;
  user: string;
  passwordEnv: string;
  credentialsFile: string;
  auth: AuthScheme;
  tokenFile: string;
  tokenCommand: string;
  cookieFile: string;
  ca: string;
  insecure: boolean;
  foreground: boolean;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  debugFuse: boolean;
  fuse: 'auto' | '3' | '2';
}

export type SettingKey = keyof MountSettings;

export interface OptionSpec<T> {
  /** The long flag, e.g. `--cache-size`. */
  flag: string;
  /** Placeholder of the flag's value (`SIZE`); absent for a switch. */
  arg?: string;
  /** The name in `-o name=value` and the key in a profile of the config file. */
  oName: string;
  /** The environment variable read when neither a flag nor `-o` gives the option. */
  env: string;
  /** The value when no source gives one; absent when it is computed at mount time (`defaultText` says how). */
  default?: T;
  defaultText: string;
  /** One line for `--help`. */
  help: string;
  /** More for docs/CONFIGURATION.md (markdown), when one line is not enough. */
  details?: string;
  /** Text to value; throws an Error whose message says what is expected (the caller names the source). */
  parse(text: string): T;
  /** The value as text that `parse` reads back (what the detached daemon receives). */
  format?(value: T): string;
}

export type OptionTable = { readonly [K in SettingKey]: OptionSpec<MountSettings[K]> };

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

function parseSwitch(text: string): boolean {
  const t = text.trim().toLowerCase();
  if (TRUE.has(t)) return true;
  if (FALSE.has(t)) return false;
  throw new Error(`expected true or false (1/0, yes/no, on/off), got ${JSON.stringify(text)}`);
}

function choice<T extends string>(choices: readonly T[]): (text: string) => T {
  return (text) => {
    if ((choices as readonly string[]).includes(text)) return text as T;
    throw new Error(`expected one of ${choices.join(', ')}, got ${JSON.stringify(text)}`);
  };
}

function size(min: number): (text: string) => number {
  return (text) => {
    const n = parseSize(text, 'size');
    if (n < min) throw new Error(min > 0 ? 'must be positive' : 'must be 0 or more');
    return n;
  };
}

function seconds(opts: { integer: boolean; min: number }): (text: string) => number {
  return (text) => {
    const n = text.trim() === '' ? NaN : Number(text);
    if (!Number.isFinite(n) || n < opts.min || (opts.integer && !Number.isInteger(n)))
      throw new Error(
        `expected ${opts.integer ? 'a whole number of seconds' : 'a number of seconds'}, at least ${opts.min}, got ${JSON.stringify(text)}`,
      );
    return n;
  };
}

function count(min: number, max: number): (text: string) => number {
  return (text) => {
    const n = /^\d{1,4}$/.test(text.trim()) ? Number(text) : NaN;
    if (!(n >= min && n <= max))
      throw new Error(`expected a whole number ${min}..${max}, got ${JSON.stringify(text)}`);
    return n;
  };
}

function id(text: string): number {
  if (!/^\d{1,10}$/.test(text.trim()) || Number(text) > 0xfffffffe)
    throw new Error(`expected a numeric id (0 or more), got ${JSON.stringify(text)}`);
  return Number(text);
}

function octalMask(text: string): number {
  if (!/^0?[0-7]{1,3}$/.test(text.trim()))
    throw new Error(`expected an octal mask such as 022, got ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

/** A path: `~/` is the home folder (the shell does not expand it inside `-o` or a config file), relative to the cwd. */
function path(text: string): string {
  if (text.trim() === '') throw new Error('expected a path');
  const expanded = text === '~' ? homedir() : text.startsWith('~/') ? homedir() + text.slice(1) : text;
  return resolve(expanded);
}

function nonEmpty(what: string): (text: string) => string {
  return (text) => {
    if (text.trim() === '') throw new Error(`expected ${what}`);
    return text;
  };
}

const octal = (n: number): string => n.toString(8).padStart(3, '0');

export const MOUNT_OPTIONS: OptionTable = {
  cacheDir: {
    flag: '--cache-dir',
    arg: 'DIR',
    oName: 'cache_dir',
    env: 'SPFS_CACHE_DIR',
    defaultText: '`$XDG_CACHE_HOME/spfs/<16 hex of sha256(site URL, user)>` (`~/.cache/...`)',
    help: 'where metadata and downloaded content are kept (default: ~/.cache/spfs/<library>)',
    details: 'metadata database, downloaded content, logs',
    parse: path,
  },
  cacheSize: {
    flag: '--cache-size',
    arg: 'SIZE',
    oName: 'cache_size',
    env: 'SPFS_CACHE_SIZE',
    default: 10 * 1024 ** 3,
    defaultText: '`10G`',
    help: 'bound on the content cache: bytes or K/M/G/T suffix (default 10G)',
    details:
      'bound on the content cache, in bytes or with a K/M/G/T suffix (powers of 1024). Counted as allocated blocks (`st_blocks × 512`) of the sparse cache files, not apparent sizes. Least recently used versions are evicted first; open, pinned and dirty ones never are. When only those remain, a read that needs new bytes fails with `ENOSPC` and the log says why',
    parse: size(1),
  },
  cacheMinFree: {
    flag: '--cache-min-free',
    arg: 'SIZE',
    oName: 'cache_min_free',
    env: 'SPFS_CACHE_MIN_FREE',
    default: 0,
    defaultText: '`0`',
    help: "keep this much free on the cache's disk (default 0)",
    details: "keep at least this much free on the cache's filesystem (evicting as for `cache_size`)",
    parse: size(0),
  },
  hydrate: {
    flag: '--hydrate',
    arg: 'MODE',
    oName: 'hydrate',
    env: 'SPFS_HYDRATE',
    default: 'ranges',
    defaultText: '`ranges`',
    help: 'ranges: fetch what is read; full: also the rest of opened files (default ranges)',
    details:
      '`ranges`: download only what reads need (plus read-ahead: 1 MiB doubling to 64 MiB while reading sequentially). `full`: also keep downloading the rest of every opened file in the background, in 64 MiB requests',
    parse: choice(['ranges', 'full'] as const),
  },
  prefetchFiles: {
    flag: '--prefetch-files',
    arg: 'N',
    oName: 'prefetch_files',
    env: 'SPFS_PREFETCH_FILES',
    default: DEFAULT_PREFETCH_FILES,
    defaultText: `\`${DEFAULT_PREFETCH_FILES}\``,
    help: 'when files of a folder are read one after another, fetch up to N of the next ones ahead (0: off; default 4)',
    details:
      "once two opens in a row go forward in a folder's name order (`cp -r`, `tar`, `rsync`, a file manager), the next documents of up to 8 MiB are downloaded whole ahead of the program, up to N at a time (2, then 4, … up to N as the pattern holds), into the cache like any other content (evictable). `0` turns it off",
    parse: count(0, 64),
  },
  writeBack: {
    flag: '--write-back',
    arg: 'SECONDS',
    oName: 'write_back',
    env: 'SPFS_WRITE_BACK',
    default: 3,
    defaultText: '`3`',
    help: 'wait this long after the last change before uploading a file (default 3)',
    details:
      "settle delay in seconds (fractions allowed, `0` = at once) between the last close of a file and its upload (nothing goes up while any handle has the file open for writing), so an editor's write-then-rename goes up once. `close()` never waits for it: the file is durable locally when `close()` returns",
    parse: seconds({ integer: false, min: 0 }),
  },
  pollInterval: {
    flag: '--poll-interval',
    arg: 'SECONDS',
    oName: 'poll_interval',
    env: 'SPFS_POLL_INTERVAL',
    default: 120,
    defaultText: '`120`',
    help: 'poll the change feed this often when no notification channel works (default 120)',
    details:
      'seconds between change enumerations when no notification channel works (a real SharePoint 2019 pushes only to WNS). With a channel, changes are fetched 300 ms after a notification and a safety poll runs every 10 min. Offline, the enumeration is retried 1 s, 2 s, 4 s … up to every 60 s',
    parse: seconds({ integer: true, min: 1 }),
  },
  readOnly: {
    flag: '--read-only',
    oName: 'ro',
    env: 'SPFS_RO',
    default: false,
    defaultText: 'off',
    help: 'mount read-only: the kernel and spfs refuse every change with EROFS',
    details:
      'a read-only kernel mount (`ro` in `/proc/mounts`), and the filesystem itself refuses every change with `EROFS`. Remote changes still arrive',
    parse: parseSwitch,
  },
  allowOther: {
    flag: '--allow-other',
    oName: 'allow_other',
    env: 'SPFS_ALLOW_OTHER',
    default: false,
    defaultText: 'off',
    help: 'let other users use the mount (non-root: needs user_allow_other in /etc/fuse.conf)',
    details:
      "let users other than the one mounting use the mount (FUSE's `allow_other`). For a mount by another user than root, `/etc/fuse.conf` must contain `user_allow_other`; spfs says so before mounting. Combine with `default_permissions` so the kernel applies `uid`/`gid`/`umask`",
    parse: parseSwitch,
  },
  defaultPermissions: {
    flag: '--default-permissions',
    oName: 'default_permissions',
    env: 'SPFS_DEFAULT_PERMISSIONS',
    default: false,
    defaultText: 'off',
    help: 'let the kernel check access against the owner and mode shown (uid, gid, umask)',
    details:
      "the kernel checks every access against the owner and mode spfs shows (FUSE's `default_permissions`); without it, whoever may use the mount may read and write everything in it",
    parse: parseSwitch,
  },
  uid: {
    flag: '--uid',
    arg: 'N',
    oName: 'uid',
    env: 'SPFS_UID',
    defaultText: 'the mounting user',
    help: 'owner shown for every file and folder (default: the mounting user)',
    details: 'numeric user id shown as the owner of every file and folder',
    parse: id,
  },
  gid: {
    flag: '--gid',
    arg: 'N',
    oName: 'gid',
    env: 'SPFS_GID',
    defaultText: "the mounting user's group",
    help: "group shown for every file and folder (default: the mounting user's)",
    details: 'numeric group id shown for every file and folder',
    parse: id,
  },
  umask: {
    flag: '--umask',
    arg: 'MASK',
    oName: 'umask',
    env: 'SPFS_UMASK',
    default: 0o022,
    defaultText: '`022`',
    help: 'octal mask of the mode bits shown: files 0666 & ~MASK, folders 0777 & ~MASK (default 022)',
    details:
      'octal; files show mode `0666 & ~MASK`, folders `0777 & ~MASK` (`022`: `rw-r--r--` and `rwxr-xr-x`). `chmod` is accepted and changes nothing (SharePoint has no modes)',
    parse: octalMask,
    format: octal,
  },
  user: {
    flag: '--user',
    arg: 'NAME',
    oName: 'user',
    env: 'SPFS_USER',
    defaultText: 'none (anonymous)',
    help: 'user name for HTTP authentication',
    details:
      "user name for HTTP authentication (Basic, or NTLM as `DOMAIN\\name` or `name@domain`). In `-o`, a bare `user` (no value) is mount(8)'s and ignored",
    parse: nonEmpty('a user name'),
  },
  passwordEnv: {
    flag: '--password-env',
    arg: 'VAR',
    oName: 'password_env',
    env: 'SPFS_PASSWORD_ENV',
    defaultText: 'prompt on the terminal',
    help: 'read the password from this environment variable (otherwise prompt)',
    details:
      'read the password from environment variable `VAR` (the password itself is never accepted as an option)',
    parse: nonEmpty('the name of an environment variable'),
  },
  credentialsFile: {
    flag: '--credentials-file',
    arg: 'FILE',
    oName: 'credentials_file',
    env: 'SPFS_CREDENTIALS_FILE',
    defaultText: 'none',
    help: 'user=/password= lines; refused unless mode 0600',
    details:
      '`user=NAME` and `password=SECRET` lines; refused unless only its owner can read it (`chmod 600`)',
    parse: path,
  },
  auth: {
    flag: '--auth',
    arg: 'SCHEME',
    oName: 'auth',
    env: 'SPFS_AUTH',
    defaultText: 'implied',
    help: 'basic, bearer, ntlm or cookie (default: implied by the other options)',
    details:
      "`basic` (with `user`), `ntlm` (user `DOMAIN\\name` or `name@domain`; SharePoint 2019's Windows auth), `bearer` (with a token option), `cookie` (with `cookie_file`)",
    parse: choice(AUTH_SCHEMES),
  },
  tokenFile: {
    flag: '--token-file',
    arg: 'FILE',
    oName: 'token_file',
    env: 'SPFS_TOKEN_FILE',
    defaultText: 'none',
    help: 'bearer token, re-read whenever the file changes',
    details: 'bearer token; re-read whenever the file changes (an external refresher may rotate it)',
    parse: path,
  },
  tokenCommand: {
    flag: '--token-command',
    arg: 'CMD',
    oName: 'token_command',
    env: 'SPFS_TOKEN_COMMAND',
    defaultText: 'none',
    help: 'prints a bearer token on stdout; run again after a 401',
    details:
      'run with `/bin/sh -c`; its stdout is the bearer token; run again after a 401. The command line itself is visible in `ps`: put no secret in it',
    parse: nonEmpty('a command'),
  },
  cookieFile: {
    flag: '--cookie-file',
    arg: 'FILE',
    oName: 'cookie_file',
    env: 'SPFS_COOKIE_FILE',
    defaultText: 'none',
    help: 'FedAuth/rtFa cookies (cookies.txt or one name=value; line)',
    details:
      "cookies for sites behind another sign-in (FedAuth, rtFa): a Netscape `cookies.txt` (lines for the site's host are used) or one `name=value; name2=value2` line; re-read on change",
    parse: path,
  },
  ca: {
    flag: '--ca',
    arg: 'FILE',
    oName: 'ca',
    env: 'SPFS_CA',
    defaultText: 'system roots',
    help: 'PEM of an extra trusted certificate authority (a company CA)',
    details: 'PEM of an additional trusted certificate authority (a company CA)',
    parse: path,
  },
  insecure: {
    flag: '--insecure',
    oName: 'insecure',
    env: 'SPFS_INSECURE',
    default: false,
    defaultText: 'off',
    help: 'do not verify TLS certificates (prints a warning)',
    details: 'do not verify TLS certificates; prints a warning. Only for testing',
    parse: parseSwitch,
  },
  foreground: {
    flag: '--foreground',
    oName: 'foreground',
    env: 'SPFS_FOREGROUND',
    default: false,
    defaultText: 'off',
    help: 'stay attached instead of detaching once mounted',
    details: 'stay attached (Ctrl-C unmounts) instead of returning once mounted (what a systemd unit runs)',
    parse: parseSwitch,
  },
  logLevel: {
    flag: '--log-level',
    arg: 'LEVEL',
    oName: 'log_level',
    env: 'SPFS_LOG_LEVEL',
    default: 'info',
    defaultText: '`info`',
    help: 'trace, debug, info, warn, error (log: <cache-dir>/spfs.log)',
    details: '`trace`, `debug`, `info`, `warn`, `error` (the log: `<cache-dir>/spfs.log`)',
    parse: choice(['trace', 'debug', 'info', 'warn', 'error'] as const),
  },
  debugFuse: {
    flag: '--debug-fuse',
    oName: 'debug_fuse',
    env: 'SPFS_DEBUG_FUSE',
    default: false,
    defaultText: 'off',
    help: 'log every FUSE request (very verbose)',
    details: "libfuse's own request trace (the daemon's stderr, `<cache-dir>/daemon.out`), very verbose",
    parse: parseSwitch,
  },
  fuse: {
    flag: '--fuse',
    arg: 'ADAPTER',
    oName: 'fuse',
    env: 'SPFS_FUSE',
    default: 'auto',
    defaultText: '`auto`',
    help: 'auto (libfuse3 where its addon is built and fusermount3 exists, else fuse-native), 3 or 2',
    details:
      "which FUSE binding serves the mount. `auto`: the libfuse3 low-level adapter (`native/fuse3`, built at install against Debian's `libfuse3-dev`) when its addon is built and `fusermount3` exists, else fuse-native (libfuse 2), with one log line saying why. `3`: libfuse3 or fail (exit 1 with the reason). `2`: fuse-native. What each changes in the kernel's caching: [SEMANTICS.md](SEMANTICS.md); `spfs status` says which one runs",
    parse: choice(['auto', '3', '2'] as const),
  },
};

export const SETTING_KEYS = Object.keys(MOUNT_OPTIONS) as SettingKey[];

/** Whether the option is a switch (`--insecure`, `-o ro`) rather than one taking a value. */
export function isSwitch(key: SettingKey): boolean {
  return MOUNT_OPTIONS[key].arg === undefined;
}

/** The spec of a key, widened for code that treats every option alike. */
export function specOf(key: SettingKey): OptionSpec<unknown> {
  return MOUNT_OPTIONS[key];
}

/** The key whose `-o` name (also the config file's key) is `name`. */
export function keyByOName(name: string): SettingKey | undefined {
  return SETTING_KEYS.find((k) => MOUNT_OPTIONS[k].oName === name);
}

/** The value as the text its parser reads back. */
export function formatValue(key: SettingKey, value: unknown): string {
  const spec = specOf(key);
  return spec.format ? spec.format(value) : String(value);
}
