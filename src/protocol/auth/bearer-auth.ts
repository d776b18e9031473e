// Bearer tokens from a file (re-read when its mtime or size changes, so an external refresher can rotate it) or from
// a command's stdout (run again after a 401). The token never appears in a log line or an error message.
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { promisify } from 'node:util';
import { SpfsError } from '../../shared/errors';
import type { AuthProvider } from './auth-provider';

const execFileAsync = promisify(execFile);
/** A token command that hangs must not hang the mount. */
export const TOKEN_COMMAND_TIMEOUT_MS = 30_000;
const MAX_TOKEN_CHARS = 16 * 1024;

/** A credential source could not be read or is unusable. */
export class CredentialSourceError extends SpfsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ECREDENTIALS', message, options);
  }
}

export type BearerSource = { tokenFile: string } | { tokenCommand: string };

function checkToken(raw: string, from: string): string {
  const token = raw.trim();
  if (token === '' || token.length > MAX_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(token)) {
    throw new CredentialSourceError(
      `${from} did not yield a usable bearer token (empty, too long or not printable)`,
    );
  }
  return token;
}

export function bearerAuth(source: BearerSource): AuthProvider {
  let token: string | undefined;
  let stamp = '';

  async function fromFile(file: string): Promise<string> {
    let st;
    try {
      st = await fsp.stat(file);
    } catch (err) {
      throw new CredentialSourceError(`token file ${file} cannot be read`, { cause: err });
    }
    const next = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (token === undefined || next !== stamp) {
      token = checkToken(await fsp.readFile(file, 'utf8'), `token file ${file}`);
      stamp = next;
    }
    return token;
  }

  async function fromCommand(cmd: string): Promise<string> {
    if (token !== undefined) return token;
    try {
      const { stdout } = await execFileAsync('/bin/sh', ['-c', cmd], {
        timeout: TOKEN_COMMAND_TIMEOUT_MS,
        maxBuffer: MAX_TOKEN_CHARS * 2,
      });
      token = checkToken(stdout, 'the token command');
    } catch (err) {
      if (err instanceof CredentialSourceError) throw err;
      // The command's own stderr may hold secrets: report only the exit status.
      const code = (err as { code?: unknown }).code;
      throw new CredentialSourceError(`the token command failed (exit ${String(code)})`);
    }
    return token;
  }

  return {
    scheme: 'bearer',
    headers: async () => ({
      authorization: `Bearer ${'tokenFile' in source ? await fromFile(source.tokenFile) : await fromCommand(source.tokenCommand)}`,
    }),
    refresh: async () => {
      const before = token;
      if ('tokenCommand' in source) {
        token = undefined;
        return (await fromCommand(source.tokenCommand)) !== before;
      }
      token = undefined;
      return (await fromFile(source.tokenFile)) !== before;
    },
  };
}
