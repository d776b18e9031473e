// Where `spfs mount` options come from, each read into the same shape (key → text and where it was given), and
// the one merge: flags > `-o` > SPFS_* environment > profile > the table's defaults (docs/CONFIGURATION.md).
import {
  formatValue,
  isSwitch,
  keyByOName,
  MOUNT_OPTIONS,
  SETTING_KEYS,
  specOf,
  type MountSettings,
  type SettingKey,
} from './options-table';
import { UsageError } from './usage-error';

/** One option as a source gave it: its text and where (for error messages: `-o cache_size`, `SPFS_UID`, ...). */
export interface Given {
  text: string;
  where: string;
}
export type GivenOptions = Map<SettingKey, Given>;

/** mount(8)'s generic options, passed to every helper: they are not ours and mean nothing to a FUSE mount here. */
const GENERIC_MOUNT_OPTIONS = new Set([
  '_netdev',
  'auto',
  'noauto',
  'user',
  'nouser',
  'users',
  'nofail',
  'rw',
  'defaults',
  'dev',
  'nodev',
  'suid',
  'nosuid',
  'exec',
  'noexec',
]);

export const PASSWORD_REFUSED =
  'a password is never taken from the command line or -o (every user can read it in ps): use password_env=VAR or credentials_file=FILE (mode 0600)';

/** Commander's values of the table's flags (a switch given is `true`). */
export function fromFlags(o: Partial<Record<SettingKey, string | boolean>>): GivenOptions {
  const out: GivenOptions = new Map();
  for (const key of SETTING_KEYS) {
    const v = o[key];
    if (v !== undefined)
      out.set(key, { text: v === true ? 'true' : String(v), where: MOUNT_OPTIONS[key].flag });
  }
  return out;
}

/**
 * `-o` lists as sshfs and mount(8) pass them: `ro,uid=1000,cache_size=20G`, possibly several `-o`. A switch alone is
 * on; mount(8)'s generic options and `x-*`/`comment=*` are skipped; anything else unknown is refused.
 */
export function fromMountOptions(lists: readonly string[]): GivenOptions {
  const out: GivenOptions = new Map();
  for (const list of lists) {
    for (const raw of list.split(',')) {
      const item = raw.trim();
      if (item === '') continue;
      const eq = item.indexOf('=');
      const name = eq < 0 ? item : item.slice(0, eq);
      const value = eq < 0 ? undefined : item.slice(eq + 1);
      if (name === 'password') throw new UsageError(`-o password: ${PASSWORD_REFUSED}`);
      if (name.startsWith('x-') || name === 'comment') continue;
      if (value === undefined && GENERIC_MOUNT_OPTIONS.has(name)) continue;
      const key = keyByOName(name);
      if (key === undefined)
        throw new UsageError(
          `-o ${name}: unknown option (spfs mount --help and docs/CONFIGURATION.md list them)`,
        );
      if (value === undefined && !isSwitch(key))
        throw new UsageError(`-o ${name} needs a value: -o ${name}=${MOUNT_OPTIONS[key].arg ?? 'VALUE'}`);
      out.set(key, { text: value ?? 'true', where: `-o ${name}` });
    }
  }
  return out;
}

/** The table's SPFS_* variables that are set (an empty one counts as not set). */
export function fromEnvironment(env: NodeJS.ProcessEnv): GivenOptions {
  const out: GivenOptions = new Map();
  for (const key of SETTING_KEYS) {
    const name = MOUNT_OPTIONS[key].env;
    const v = env[name];
    if (v !== undefined && v !== '') out.set(key, { text: v, where: name });
  }
  return out;
}

/** The merged options: what some source gave, parsed, and the table's defaults for the rest. */
export interface ResolvedSettings {
  values: Partial<MountSettings>;
  /** Keys some source gave (not defaulted): what the detached daemon is told. */
  given: ReadonlySet<SettingKey>;
}

/** Merges sources, the first that gives a key winning; a bad value is an error naming where it was given. */
export function resolveSettings(sources: readonly GivenOptions[]): ResolvedSettings {
  const values: Record<string, unknown> = {};
  const given = new Set<SettingKey>();
  for (const key of SETTING_KEYS) {
    const spec = specOf(key);
    const from = sources.find((s) => s.has(key))?.get(key);
    if (from === undefined) {
      if (spec.default !== undefined) values[key] = spec.default;
      continue;
    }
    try {
      values[key] = spec.parse(from.text);
    } catch (err) {
      throw new UsageError(`${from.where}: ${err instanceof Error ? err.message : String(err)}`);
    }
    given.add(key);
  }
  return { values: values, given };
}

/**
 * Flags that give the detached daemon exactly these settings (it is spawned without the SPFS_* variables, so
 * nothing is read twice). No credential is among them: the table holds names of variables and files only.
 */
export function daemonArgs(r: ResolvedSettings, omit: readonly SettingKey[]): string[] {
  const args: string[] = [];
  for (const key of SETTING_KEYS) {
    if (!r.given.has(key) || omit.includes(key)) continue;
    const value = r.values[key];
    if (value === undefined || value === false) continue;
    if (isSwitch(key)) args.push(MOUNT_OPTIONS[key].flag);
    else args.push(MOUNT_OPTIONS[key].flag, formatValue(key, value));
  }
  return args;
}

/** The environment without the table's SPFS_* variables. */
export function withoutOptionVariables(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const key of SETTING_KEYS) delete out[MOUNT_OPTIONS[key].env];
  return out;
}
