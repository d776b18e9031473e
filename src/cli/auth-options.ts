// Turns the mount command's auth/TLS options into SpClient options: Basic or NTLM with user + password, Bearer from
// a token file or command, cookies from a cookie file; `--ca` adds a company CA, `--insecure` turns verification off
// (with a warning). Secrets never pass through argv: only paths and the user name do.
import { readFileSync } from 'node:fs';
import { bearerAuth } from '../protocol/auth/bearer-auth';
import { cookieAuth } from '../protocol/auth/cookie-auth';
import type { SpClientOptions } from '../protocol/sp-client';
import type { Credentials } from './credentials';
import { UsageError } from './usage-error';

export const AUTH_SCHEMES = ['basic', 'bearer', 'ntlm', 'cookie'] as const;
export type AuthScheme = (typeof AUTH_SCHEMES)[number];

export interface AuthCliOptions {
  auth?: string;
  tokenFile?: string;
  tokenCommand?: string;
  cookieFile?: string;
  ca?: string;
  insecure?: boolean;
}

export const INSECURE_WARNING =
  'warning: --insecure: TLS certificates are NOT verified; anyone on the network path can read your credentials and files';

/** The scheme in effect: explicit `--auth`, else implied by the options given (token → bearer, cookie file → cookie). */
export function authScheme(o: AuthCliOptions, hasUser: boolean): AuthScheme | undefined {
  if (o.auth !== undefined) {
    if (!(AUTH_SCHEMES as readonly string[]).includes(o.auth)) {
      throw new UsageError(`--auth must be one of ${AUTH_SCHEMES.join(', ')}`);
    }
    return o.auth as AuthScheme;
  }
  if (o.tokenFile !== undefined || o.tokenCommand !== undefined) return 'bearer';
  if (o.cookieFile !== undefined) return 'cookie';
  return hasUser ? 'basic' : undefined;
}

/** Whether the scheme needs a user name and password (prompted or from env / credentials file). */
export function needsPassword(scheme: AuthScheme | undefined): boolean {
  return scheme === 'basic' || scheme === 'ntlm';
}

export function clientAuthOptions(
  url: string,
  o: AuthCliOptions,
  scheme: AuthScheme | undefined,
  credentials: Credentials | undefined,
): Pick<SpClientOptions, 'credentials' | 'auth' | 'ntlm' | 'tls'> {
  const out: Pick<SpClientOptions, 'credentials' | 'auth' | 'ntlm' | 'tls'> = {};
  if (o.ca !== undefined || o.insecure) {
    let ca: string | undefined;
    if (o.ca !== undefined) {
      try {
        ca = readFileSync(o.ca, 'utf8');
      } catch {
        throw new UsageError(`--ca: cannot read ${o.ca}`);
      }
      if (!ca.includes('-----BEGIN CERTIFICATE-----'))
        throw new UsageError(`--ca: ${o.ca} is not a PEM certificate`);
    }
    out.tls = { ...(ca !== undefined ? { ca } : {}), insecure: o.insecure === true };
  }
  switch (scheme) {
    case undefined:
      return out;
    case 'basic':
    case 'ntlm':
      if (credentials === undefined) throw new UsageError(`--auth ${scheme} needs --user and a password`);
      if (scheme === 'basic') out.credentials = credentials;
      else out.ntlm = credentials;
      return out;
    case 'bearer':
      if ((o.tokenFile === undefined) === (o.tokenCommand === undefined)) {
        throw new UsageError('--auth bearer needs exactly one of --token-file and --token-command');
      }
      out.auth = bearerAuth(
        o.tokenFile !== undefined ? { tokenFile: o.tokenFile } : { tokenCommand: o.tokenCommand ?? '' },
      );
      return out;
    case 'cookie':
      if (o.cookieFile === undefined) throw new UsageError('--auth cookie needs --cookie-file');
      out.auth = cookieAuth(o.cookieFile, new URL(url).hostname);
      return out;
  }
}
