// Where a password comes from: an environment variable named on the command line, or an interactive prompt.
// Never from argv (visible to every user in `ps`), never logged.
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

export async function resolveCredentials(
  user: string | undefined,
  passwordEnv: string | undefined,
): Promise<Credentials | undefined> {
  if (user === undefined) {
    if (passwordEnv !== undefined) throw new UsageError('--password-env needs --user');
    return undefined;
  }
  const password =
    passwordEnv !== undefined ? passwordFromEnv(passwordEnv) : await promptPassword(`Password for ${user}: `);
  return { user, password };
}
