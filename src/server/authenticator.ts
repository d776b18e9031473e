// Who is calling: HTTP Basic, Bearer tokens from the config, or connection-bound NTLM (also inside Negotiate). A
// request without credentials on a connection that completed NTLM is that connection's user, as with IIS.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../shared/clock';
import { AUTH_CHALLENGE, BasicAuth } from './basic-auth';
import { NtlmAuth } from './ntlm-auth';
import type { UserConfig } from './server-config';

/** Offered on every 401 without a handshake in progress, strongest first (as IIS lists Negotiate before NTLM). */
export const AUTH_CHALLENGES: readonly string[] = [
  'Negotiate',
  'NTLM',
  AUTH_CHALLENGE,
  'Bearer realm="spfs"',
];

export type AuthResult =
  | { user: string }
  | { user?: undefined; /** WWW-Authenticate values of the 401. */ challenges: readonly string[] };

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

export class Authenticator {
  private readonly basic: BasicAuth;
  private readonly tokens: { user: string; key: Buffer }[];

  private constructor(
    users: readonly UserConfig[],
    private readonly ntlm: NtlmAuth,
  ) {
    this.basic = new BasicAuth(users);
    this.tokens = users.flatMap((u) => (u.tokens ?? []).map((t) => ({ user: u.name, key: sha256(t) })));
  }

  static async create(users: readonly UserConfig[], clock: Clock): Promise<Authenticator> {
    return new Authenticator(users, await NtlmAuth.create(users, clock));
  }

  authenticate(req: IncomingMessage): AuthResult {
    const header = req.headers.authorization;
    const socket = req.socket;
    if (header === undefined) {
      const user = this.ntlm.connectionUser(socket);
      return user !== undefined ? { user } : { challenges: AUTH_CHALLENGES };
    }
    const ntlm = this.ntlm.handle(socket, header);
    if (ntlm !== undefined) {
      if (ntlm.kind === 'user') return { user: ntlm.user };
      return { challenges: ntlm.kind === 'challenge' ? [ntlm.header] : AUTH_CHALLENGES };
    }
    // Other credentials on this connection: it is no longer anybody's NTLM connection.
    this.ntlm.reset(socket);
    const bearer = /^Bearer\s+([\x21-\x7e]{1,4096})\s*$/i.exec(header);
    const user = bearer ? this.bearer(bearer[1] ?? '') : this.basic.check(header);
    return user !== undefined ? { user } : { challenges: AUTH_CHALLENGES };
  }

  /** Constant time over every token, like BasicAuth. */
  private bearer(token: string): string | undefined {
    const presented = sha256(token);
    let found: string | undefined;
    for (const t of this.tokens) if (timingSafeEqual(presented, t.key) && found === undefined) found = t.user;
    return found;
  }
}
