// Cookie pass-through for sites behind another sign-in (FedAuth/rtFa): cookies read from a file, either a
// Netscape cookies.txt (as browsers' exporters write) or a single `name=value; name2=value2` line. Re-read on change.
import { promises as fsp } from 'node:fs';
import type { AuthProvider } from './auth-provider';
import { CredentialSourceError } from './bearer-auth';

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

/** Parses a cookie file into a `Cookie` header value; `host` filters Netscape lines by domain. */
export function parseCookieFile(text: string, host: string): string {
  const pairs: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || (line.startsWith('#') && !line.startsWith('#HttpOnly_'))) continue;
    const fields = line.split('\t');
    if (fields.length >= 7) {
      const domain = (fields[0] ?? '')
        .replace(/^#HttpOnly_/, '')
        .replace(/^\./, '')
        .toLowerCase();
      const h = host.toLowerCase();
      if (h !== domain && !h.endsWith(`.${domain}`)) continue;
      pairs.push(`${fields[5] ?? ''}=${fields[6] ?? ''}`);
    } else {
      for (const part of line.split(';')) if (part.trim() !== '') pairs.push(part.trim());
    }
  }
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0 || !COOKIE_NAME.test(p.slice(0, eq)) || !COOKIE_VALUE.test(p.slice(eq + 1))) {
      throw new CredentialSourceError('cookie file holds a malformed cookie');
    }
  }
  if (pairs.length === 0) throw new CredentialSourceError(`cookie file has no cookie for ${host}`);
  return pairs.join('; ');
}

export function cookieAuth(file: string, host: string): AuthProvider {
  let value: string | undefined;
  let stamp = '';
  const load = async (): Promise<string> => {
    let st;
    try {
      st = await fsp.stat(file);
    } catch (err) {
      throw new CredentialSourceError(`cookie file ${file} cannot be read`, { cause: err });
    }
    const next = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (value === undefined || next !== stamp) {
      value = parseCookieFile(await fsp.readFile(file, 'utf8'), host);
      stamp = next;
    }
    return value;
  };
  return {
    scheme: 'cookie',
    headers: async () => ({ cookie: await load() }),
    refresh: async () => {
      const before = value;
      value = undefined;
      return (await load()) !== before;
    },
  };
}
