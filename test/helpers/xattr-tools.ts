// getfattr and setfattr (Debian package attr) on a mounted path, as a user or a file-manager script runs them. A
// failure becomes an error whose `code` is the errno name the tool reported (its strerror text, stable in glibc).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const ERRNO_BY_TEXT: ReadonlyArray<[string, string]> = [
  ['No such attribute', 'ENODATA'],
  ['No data available', 'ENODATA'],
  ['Operation not supported', 'ENOTSUP'],
  ['Invalid argument', 'EINVAL'],
  ['Numerical result out of range', 'ERANGE'],
  ['No such file or directory', 'ENOENT'],
];

async function tool(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args, { timeout: 30_000 })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string | Buffer }).stderr?.toString() ?? '';
    const code = ERRNO_BY_TEXT.find(([text]) => stderr.includes(text))?.[1];
    throw Object.assign(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim()}`), code ? { code } : {});
  }
}

/** `getfattr -d`: every user.* attribute with its value. */
export async function getfattrDump(path: string): Promise<Record<string, string>> {
  const out = await tool('getfattr', ['-d', '--absolute-names', path]);
  const attrs: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^([^=#\s]+)="(.*)"$/.exec(line);
    if (m) attrs[m[1] as string] = (m[2] as string).replace(/\\(.)/g, '$1');
  }
  return attrs;
}

/** `getfattr --only-values -n NAME`: one attribute's raw value. */
export function getfattrValue(path: string, name: string): Promise<string> {
  return tool('getfattr', ['--only-values', '--absolute-names', '-n', name, path]);
}

/** `setfattr -n NAME -v VALUE`. */
export async function setfattr(path: string, name: string, value: string): Promise<void> {
  await tool('setfattr', ['-n', name, '-v', value, path]);
}

/** `setfattr -x NAME`. */
export async function removefattr(path: string, name: string): Promise<void> {
  await tool('setfattr', ['-x', name, path]);
}
