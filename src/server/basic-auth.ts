// HTTP Basic authentication against the configured users, compared in constant time (digests of equal length, every
// user checked) so response timing reveals neither names nor passwords.
import { createHash, timingSafeEqual } from 'node:crypto';

export const AUTH_CHALLENGE = 'Basic realm="spfs"';

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class BasicAuth {
  private readonly users: { name: string; key: Buffer }[];

  constructor(users: readonly { name: string; password: string }[]) {
    this.users = users.map((u) => ({ name: u.name, key: digest(`${u.name}:${u.password}`) }));
  }

  /** The authenticated user's configured name, or undefined. */
  check(header: string | undefined): string | undefined {
    if (header === undefined) return undefined;
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m) return undefined;
    const presented = digest(Buffer.from(m[1] ?? '', 'base64').toString('utf8'));
    let found: string | undefined;
    for (const u of this.users) {
      if (timingSafeEqual(presented, u.key) && found === undefined) found = u.name;
    }
    return found;
  }
}
