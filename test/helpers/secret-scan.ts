// The suite-wide check that no secret reaches a file: every end-to-end test's cleanup scans what its servers and
// mounts wrote (daemon logs, databases, mount records, request logs) for each server's password, in clear and as
// the Basic credentials a request carries, before the folders are removed.
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Larger files are cached library content, which holds what the tests wrote, never a credential. */
const MAX_SCANNED_BYTES = 64 * 1024 * 1024;

export interface Credential {
  user: string;
  password: string;
}

/** The forms a credential could leak in: the password itself and the Basic header value. */
export function secretForms(c: Credential): string[] {
  return [c.password, Buffer.from(`${c.user}:${c.password}`).toString('base64')];
}

/** Files under `dirs` (recursively) that contain any of the secrets; each as `file: form`. */
export function filesWithSecrets(dirs: readonly string[], secrets: readonly string[]): string[] {
  const needles = secrets.filter((s) => s.length >= 6).map((s) => Buffer.from(s));
  const found: string[] = [];
  const visit = (path: string): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // removed meanwhile
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
      return;
    }
    // `*.cred`: the 0600 credentials files the tests hand to `--credentials-file`, the one place a secret belongs.
    if (!st.isFile() || st.size > MAX_SCANNED_BYTES || path.endsWith('.cred')) return;
    let body: Buffer;
    try {
      body = readFileSync(path);
    } catch {
      return;
    }
    for (const n of needles) if (body.includes(n)) found.push(`${path}: ${n.toString().slice(0, 3)}…`);
  };
  for (const d of dirs) visit(d);
  return found;
}
