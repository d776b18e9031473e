// The config file, `$XDG_CONFIG_HOME/spfs/config.json`: named libraries (profiles) whose keys are the `-o` names of
// the options table, plus `url`. Read only when a mount names a profile; every mistake is an error naming the file.
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { GivenOptions } from './option-sources';
import { PASSWORD_REFUSED } from './option-sources';
import { keyByOName } from './options-table';
import { UsageError } from './usage-error';

export interface Profile {
  name: string;
  url: string;
  options: GivenOptions;
}

export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== ''
      ? env.XDG_CONFIG_HOME
      : join(homedir(), '.config');
  return join(base, 'spfs', 'config.json');
}

/** Reads the config file and returns the profile `name`. */
export function loadProfile(name: string, file: string = configFilePath()): Profile {
  let mode: number;
  let text: string;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(
      `${name} is neither an http(s) URL nor a profile: ${file} cannot be read (docs/CONFIGURATION.md, Profiles)`,
    );
  }
  // Another user who can change the file could point a mount at their server and collect the password.
  if ((mode & 0o022) !== 0)
    throw new UsageError(
      `${file} is writable by others (mode ${(mode & 0o777).toString(8)}): run chmod go-w ${file}`,
    );
  return parseProfile(name, text, file);
}

/** The profile `name` of a config file's text (a plain function: the checks of every key and value). */
export function parseProfile(name: string, text: string, file: string): Profile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isObject(doc)) throw new UsageError(`${file}: expected an object with "profiles"`);
  for (const key of Object.keys(doc))
    if (key !== 'profiles') throw new UsageError(`${file}: unknown key "${key}" (only "profiles")`);
  const profiles = doc.profiles ?? {};
  if (!isObject(profiles)) throw new UsageError(`${file}: "profiles" must be an object of named profiles`);
  const raw = profiles[name];
  if (raw === undefined) {
    const known = Object.keys(profiles);
    throw new UsageError(
      `${name} is neither an http(s) URL nor a profile of ${file}` +
        (known.length > 0 ? ` (profiles: ${known.join(', ')})` : ' (it has no profiles)'),
    );
  }
  const where = `profile "${name}" of ${file}`;
  if (!isObject(raw)) throw new UsageError(`${where}: expected an object of options`);
  let url: string | undefined;
  const options: GivenOptions = new Map();
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'password') throw new UsageError(`${where}: key "password": ${PASSWORD_REFUSED}`);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      throw new UsageError(`${where}: key "${key}" must be a string, number or boolean`);
    if (key === 'url') {
      if (typeof value !== 'string' || !/^https?:\/\//i.test(value))
        throw new UsageError(`${where}: key "url" must be an http(s) URL`);
      url = value;
      continue;
    }
    const setting = keyByOName(key);
    if (setting === undefined)
      throw new UsageError(
        `${where}: unknown key "${key}" (the keys are the -o names of docs/CONFIGURATION.md)`,
      );
    options.set(setting, { text: String(value), where: `${where}, key "${key}"` });
  }
  if (url === undefined) throw new UsageError(`${where}: no "url"`);
  return { name, url, options };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
