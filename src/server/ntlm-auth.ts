// Connection-bound NTLM as IIS does it for SharePoint 2019: type 1 → 401 with a type 2 challenge, type 3 verified as
// NTLMv2 against the user's password; the result lives on the keep-alive socket and never leaves it.
import type { Socket } from 'node:net';
import type { Clock } from '../shared/clock';
import { ntHash, randomChallenge, verifyNtlmv2 } from '../shared/ntlm/ntlm-crypto';
import {
  NtlmMessageError,
  createChallengeMessage,
  ntlmFromAuthorization,
  ntlmMessageType,
  parseAuthenticateMessage,
  parseNegotiateMessage,
} from '../shared/ntlm/ntlm-messages';

/** NetBIOS domain and computer name the server announces in its challenges. */
export const NTLM_DOMAIN = 'SPFS';
const NTLM_COMPUTER = 'SPFS-SERVER';

type SocketState =
  | { stage: 'challenged'; scheme: 'NTLM' | 'Negotiate'; serverChallenge: Buffer }
  | { stage: 'authenticated'; user: string };

export type NtlmOutcome =
  { kind: 'user'; user: string } | { kind: 'challenge'; header: string } | { kind: 'failed' };

export class NtlmAuth {
  private readonly sockets = new WeakMap<Socket, SocketState>();

  private constructor(
    /** Lower-case user name → configured name and NT hash. */
    private readonly users: Map<string, { name: string; hash: Buffer }>,
    private readonly clock: Clock,
  ) {}

  static async create(users: readonly { name: string; password: string }[], clock: Clock): Promise<NtlmAuth> {
    const map = new Map<string, { name: string; hash: Buffer }>();
    for (const u of users) map.set(u.name.toLowerCase(), { name: u.name, hash: await ntHash(u.password) });
    return new NtlmAuth(map, clock);
  }

  /** The user this connection authenticated as, if it completed an NTLM handshake. */
  connectionUser(socket: Socket): string | undefined {
    const s = this.sockets.get(socket);
    return s?.stage === 'authenticated' ? s.user : undefined;
  }

  /** Forgets the connection's NTLM state (other credentials were presented on it). */
  reset(socket: Socket): void {
    this.sockets.delete(socket);
  }

  /** Undefined when the header is not an NTLM message (e.g. SPNEGO/Kerberos in Negotiate). */
  handle(socket: Socket, header: string): NtlmOutcome | undefined {
    const parsed = ntlmFromAuthorization(header);
    if (parsed === undefined) return undefined;
    try {
      const type = ntlmMessageType(parsed.message);
      if (type === 1) {
        const neg = parseNegotiateMessage(parsed.message);
        const serverChallenge = randomChallenge();
        this.sockets.set(socket, { stage: 'challenged', scheme: parsed.scheme, serverChallenge });
        const t2 = createChallengeMessage({
          clientFlags: neg.flags,
          serverChallenge,
          domain: NTLM_DOMAIN,
          computer: NTLM_COMPUTER,
          nowMs: this.clock.now(),
        });
        return { kind: 'challenge', header: `${parsed.scheme} ${t2.toString('base64')}` };
      }
      const state = this.sockets.get(socket);
      this.sockets.delete(socket);
      if (type !== 3 || state?.stage !== 'challenged') return { kind: 'failed' };
      const auth = parseAuthenticateMessage(parsed.message);
      const known = this.users.get(auth.user.toLowerCase());
      if (known === undefined) return { kind: 'failed' };
      if (!verifyNtlmv2(known.hash, auth.user, auth.domain, state.serverChallenge, auth.ntResponse))
        return { kind: 'failed' };
      this.sockets.set(socket, { stage: 'authenticated', user: known.name });
      return { kind: 'user', user: known.name };
    } catch (err) {
      if (err instanceof NtlmMessageError) return { kind: 'failed' };
      throw err;
    }
  }
}
