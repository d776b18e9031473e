// Who may use the server: users (password, optional bearer tokens) and team sites with their members. Read from a
// JSON config file (`spfs serve --config FILE`) that must not be readable by other users of the machine.
import * as fs from 'node:fs';
import { InvalidInputError } from '../shared/errors';
import { type ServerSettings, checkSettings } from './data-plane-settings';

export interface UserConfig {
  /** Alias: the `/personal/<name>` site. Matches NAME_PATTERN; case-insensitive everywhere. */
  name: string;
  password: string;
  /** Bearer tokens that authenticate as this user (`Authorization: Bearer <token>`). */
  tokens?: string[];
}

export interface TeamSiteConfig {
  /** The `/sites/<name>` site. Matches NAME_PATTERN. */
  name: string;
  /** User names that may read and write its library. */
  members: string[];
  /** Imported into the library when it is first created. */
  seedDir?: string;
}

export interface ServerConfigFile {
  users: UserConfig[];
  teamSites?: TeamSiteConfig[];
  /** Quota, policy and data-plane settings (keys of ServerSettings; sizes may be strings like "10G"). */
  settings?: Partial<ServerSettings>;
}

export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const MIN_TOKEN_CHARS = 16;

/** Checks names, duplicates (case-insensitive), members and tokens; throws InvalidInputError naming the problem. */
export function validateConfig(cfg: ServerConfigFile): void {
  if (cfg.users.length === 0) throw new InvalidInputError('at least one user is required');
  const users = new Set<string>();
  const tokens = new Set<string>();
  for (const u of cfg.users) {
    if (!NAME_PATTERN.test(u.name))
      throw new InvalidInputError(`user name must match ${NAME_PATTERN.source}: ${u.name}`);
    if (users.has(u.name.toLowerCase())) throw new InvalidInputError(`duplicate user: ${u.name}`);
    users.add(u.name.toLowerCase());
    if (typeof u.password !== 'string' || u.password === '')
      throw new InvalidInputError(`user ${u.name}: password must be a non-empty string`);
    for (const t of u.tokens ?? []) {
      if (typeof t !== 'string' || t.length < MIN_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(t))
        throw new InvalidInputError(
          `user ${u.name}: tokens must be at least ${MIN_TOKEN_CHARS} printable characters`,
        );
      if (tokens.has(t)) throw new InvalidInputError(`user ${u.name}: a token is given twice`);
      tokens.add(t);
    }
  }
  const sites = new Set<string>();
  for (const s of cfg.teamSites ?? []) {
    if (!NAME_PATTERN.test(s.name))
      throw new InvalidInputError(`site name must match ${NAME_PATTERN.source}: ${s.name}`);
    if (sites.has(s.name.toLowerCase())) throw new InvalidInputError(`duplicate team site: ${s.name}`);
    sites.add(s.name.toLowerCase());
    if (!Array.isArray(s.members)) throw new InvalidInputError(`team site ${s.name}: members must be a list`);
    for (const m of s.members) {
      if (!users.has(String(m).toLowerCase()))
        throw new InvalidInputError(`team site ${s.name}: member ${String(m)} is not a configured user`);
    }
  }
}

/** Reads and validates a config file; refuses one that group or others may read (it holds passwords). */
export function loadConfigFile(file: string): ServerConfigFile {
  const st = fs.statSync(file);
  if ((st.mode & 0o077) !== 0) {
    throw new InvalidInputError(
      `config file ${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); it holds passwords: chmod 600 it`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new InvalidInputError(`config file ${file} is not valid JSON`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || !Array.isArray((raw as { users?: unknown }).users))
    throw new InvalidInputError(`config file ${file}: expected {"users": [...], "teamSites": [...]}`);
  const cfg = raw as ServerConfigFile;
  if (cfg.teamSites !== undefined && !Array.isArray(cfg.teamSites))
    throw new InvalidInputError(`config file ${file}: teamSites must be a list`);
  validateConfig(cfg);
  const settings = cfg.settings !== undefined ? checkSettings(cfg.settings, `${file}: settings`) : undefined;
  return { ...cfg, ...(settings !== undefined ? { settings } : {}) };
}
