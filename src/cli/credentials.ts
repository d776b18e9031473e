// Where a password comes from: an environment variable named on the command line, a 0600 credentials file, or an
// interactive prompt. Never from argv (visible to every user in `ps`), never logged.
import { readFileSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { UsageError } from './usage-error';

export interface Credentials {
  user: string;
  password: string;
}

export function passwordFromEnv(varName: string): string {
  const value = process.env[varName];
  if (value === undefined || value === '') {
    throw new UsageError(`environment variable ${varName} (named by --password-env) is not set or empty`);
  }
  return value;
}

/** Prompts on the terminal without echo. */
export function promptPassword(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    return Promise.reject(
      new UsageError('no password: use --password-env VAR (stdin is not a terminal to prompt on)'),
    );
  }
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    let asked = false;
    out._writeToOutput = (s: string): void => {
      // Echo the question once, then nothing of what is typed.
      if (!asked) process.stderr.write(s);
      asked = true;
    };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

/**
 * A credentials file: `user=NAME` and `password=SECRET` lines (`#` comments). Refused unless only its owner can read
 * it (mode 0600 or stricter), so a password never sits in a world-readable file.
 */
export function readCredentialsFile(path: string): { user?: string; password: string } {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`credentials file ${path} cannot be read`);
  }
  if ((mode & 0o077) !== 0) {
    throw new UsageError(
      `credentials file ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${path}`,
    );
  }
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(user|password)\s*=(.*)$/.exec(line);
    if (m) fields.set(m[1] ?? '', (m[2] ?? '').trim());
  }
  const password = fields.get('password');
  if (password === undefined || password === '')
    throw new UsageError(`credentials file ${path} has no password= line`);
  const user = fields.get('user');
  return user ? { user, password } : { password };
}

export async function resolveCredentials(
  user: string | undefined,
  passwordEnv: string | undefined,
  credentialsFile?: string,
): Promise<Credentials | undefined> {
  if (credentialsFile !== undefined) {
    if (passwordEnv !== undefined)
      throw new UsageError('--password-env and --credentials-file exclude each other');
    const fromFile = readCredentialsFile(credentialsFile);
    const name = user ?? fromFile.user;
    if (name === undefined)
      throw new UsageError(`no user: give --user or a user= line in ${credentialsFile}`);
    return { user: name, password: fromFile.password };
  }
  if (user === undefined) {
    if (passwordEnv !== undefined) throw new UsageError('--password-env needs --user');
    return undefined;
  }
  const password =
    passwordEnv !== undefined ? passwordFromEnv(passwordEnv) : await promptPassword(`Password for ${user}: `);
  return { user, password };
}
