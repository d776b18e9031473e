// NTLM messages of MS-NLMP §2.2.1: NEGOTIATE (type 1), CHALLENGE (type 2) and AUTHENTICATE (type 3), built and
// parsed with bounds checks (every field length/offset is validated before use), plus the AV pair list.
import { InvalidInputError } from '../errors';
import { filetime, ntlmv2Blob, ntlmv2Responses, ntowfv2, randomChallenge } from './ntlm-crypto';

export const NTLM_FLAGS = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  NTLM: 0x00000200,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  N128: 0x20000000,
  N56: 0x80000000,
} as const;

export const AV_ID = {
  EOL: 0,
  NB_COMPUTER_NAME: 1,
  NB_DOMAIN_NAME: 2,
  DNS_COMPUTER_NAME: 3,
  DNS_DOMAIN_NAME: 4,
  TIMESTAMP: 7,
} as const;

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
/** Windows 10.0 build 17763 (Server 2019), NTLM revision 15: the VERSION field servers send. */
const VERSION = Buffer.from([10, 0, 0x63, 0x45, 0, 0, 0, 15]);
const MAX_MESSAGE_BYTES = 64 * 1024;

export class NtlmMessageError extends InvalidInputError {}

export interface NegotiateMessage {
  flags: number;
}

export interface ChallengeMessage {
  flags: number;
  serverChallenge: Buffer;
  targetName: string;
  /** The raw AV pair list: the client copies it into its NTLMv2 blob. */
  targetInfo: Buffer;
}

export interface AuthenticateMessage {
  flags: number;
  lmResponse: Buffer;
  ntResponse: Buffer;
  domain: string;
  user: string;
  workstation: string;
}

/** The message type (1, 2 or 3) of a buffer with the NTLMSSP signature, or undefined. */
export function ntlmMessageType(buf: Buffer): number | undefined {
  if (buf.length < 12 || !buf.subarray(0, 8).equals(SIGNATURE)) return undefined;
  return buf.readUInt32LE(8);
}

function expectType(buf: Buffer, type: number, minBytes: number): void {
  if (buf.length > MAX_MESSAGE_BYTES) throw new NtlmMessageError('NTLM message too large');
  if (ntlmMessageType(buf) !== type) throw new NtlmMessageError(`not an NTLM type ${type} message`);
  if (buf.length < minBytes) throw new NtlmMessageError(`NTLM type ${type} message truncated`);
}

/** A security buffer field (len, maxlen, offset) at `at`, bounds-checked against the message. */
function field(buf: Buffer, at: number): Buffer {
  const len = buf.readUInt16LE(at);
  const off = buf.readUInt32LE(at + 4);
  if (len === 0) return Buffer.alloc(0);
  if (off + len > buf.length) throw new NtlmMessageError('NTLM field points outside the message');
  return buf.subarray(off, off + len);
}

function text(b: Buffer, unicode: boolean): string {
  return b.toString(unicode ? 'utf16le' : 'latin1');
}

/** Lays out fixed header + security buffers + payload; `fields` are placed in order after `headerBytes`. */
function assemble(header: Buffer, fieldAt: number[], payloads: Buffer[]): Buffer {
  let off = header.length;
  fieldAt.forEach((at, i) => {
    const p = payloads[i] ?? Buffer.alloc(0);
    header.writeUInt16LE(p.length, at);
    header.writeUInt16LE(p.length, at + 2);
    header.writeUInt32LE(off, at + 4);
    off += p.length;
  });
  return Buffer.concat([header, ...payloads]);
}

export function avPairs(pairs: readonly { id: number; value: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pairs) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(p.id, 0);
    h.writeUInt16LE(p.value.length, 2);
    parts.push(h, p.value);
  }
  parts.push(Buffer.alloc(4)); // MsvAvEOL
  return Buffer.concat(parts);
}

export function parseAvPairs(info: Buffer): { id: number; value: Buffer }[] {
  const out: { id: number; value: Buffer }[] = [];
  for (let at = 0; at + 4 <= info.length;) {
    const id = info.readUInt16LE(at);
    const len = info.readUInt16LE(at + 2);
    if (id === AV_ID.EOL) return out;
    if (at + 4 + len > info.length) throw new NtlmMessageError('NTLM AV pair overruns the target info');
    out.push({ id, value: info.subarray(at + 4, at + 4 + len) });
    at += 4 + len;
  }
  throw new NtlmMessageError('NTLM target info has no MsvAvEOL');
}

/** Type 1 (client). Asks for Unicode, NTLM, extended session security and target info. */
export function createNegotiateMessage(): Buffer {
  const flags =
    NTLM_FLAGS.UNICODE |
    NTLM_FLAGS.OEM |
    NTLM_FLAGS.REQUEST_TARGET |
    NTLM_FLAGS.NTLM |
    NTLM_FLAGS.ALWAYS_SIGN |
    NTLM_FLAGS.EXTENDED_SESSIONSECURITY |
    NTLM_FLAGS.N128 |
    NTLM_FLAGS.N56;
  const h = Buffer.alloc(32);
  SIGNATURE.copy(h, 0);
  h.writeUInt32LE(1, 8);
  h.writeUInt32LE(flags >>> 0, 12);
  return assemble(h, [16, 24], []);
}

export function parseNegotiateMessage(buf: Buffer): NegotiateMessage {
  expectType(buf, 1, 16);
  return { flags: buf.readUInt32LE(12) };
}

export interface ChallengeOptions {
  /** The client's type 1 flags: Unicode or OEM is chosen from them. */
  clientFlags: number;
  serverChallenge: Buffer;
  /** NetBIOS domain name, e.g. `SPFS`. */
  domain: string;
  /** NetBIOS computer name. */
  computer: string;
  nowMs: number;
}

/** Type 2 (server): target name = domain, target info with names and a timestamp. */
export function createChallengeMessage(o: ChallengeOptions): Buffer {
  const unicode = (o.clientFlags & NTLM_FLAGS.UNICODE) !== 0;
  const flags =
    (unicode ? NTLM_FLAGS.UNICODE : NTLM_FLAGS.OEM) |
    NTLM_FLAGS.REQUEST_TARGET |
    NTLM_FLAGS.NTLM |
    NTLM_FLAGS.ALWAYS_SIGN |
    NTLM_FLAGS.TARGET_TYPE_DOMAIN |
    (o.clientFlags & NTLM_FLAGS.EXTENDED_SESSIONSECURITY) |
    NTLM_FLAGS.TARGET_INFO |
    NTLM_FLAGS.VERSION |
    (o.clientFlags & (NTLM_FLAGS.N128 | NTLM_FLAGS.N56));
  const u = (s: string): Buffer => Buffer.from(s, 'utf16le');
  const info = avPairs([
    { id: AV_ID.NB_DOMAIN_NAME, value: u(o.domain) },
    { id: AV_ID.NB_COMPUTER_NAME, value: u(o.computer) },
    { id: AV_ID.DNS_DOMAIN_NAME, value: u(o.domain.toLowerCase()) },
    { id: AV_ID.DNS_COMPUTER_NAME, value: u(o.computer.toLowerCase()) },
    { id: AV_ID.TIMESTAMP, value: filetime(o.nowMs) },
  ]);
  const h = Buffer.alloc(56);
  SIGNATURE.copy(h, 0);
  h.writeUInt32LE(2, 8);
  h.writeUInt32LE(flags >>> 0, 20);
  o.serverChallenge.copy(h, 24);
  VERSION.copy(h, 48);
  return assemble(h, [12, 40], [Buffer.from(o.domain, unicode ? 'utf16le' : 'latin1'), info]);
}

export function parseChallengeMessage(buf: Buffer): ChallengeMessage {
  expectType(buf, 2, 32);
  const flags = buf.readUInt32LE(20);
  const unicode = (flags & NTLM_FLAGS.UNICODE) !== 0;
  return {
    flags,
    serverChallenge: Buffer.from(buf.subarray(24, 32)),
    targetName: text(field(buf, 12), unicode),
    targetInfo:
      buf.length >= 48 && (flags & NTLM_FLAGS.TARGET_INFO) !== 0
        ? Buffer.from(field(buf, 40))
        : Buffer.alloc(0),
  };
}

export interface AuthenticateOptions {
  challenge: ChallengeMessage;
  user: string;
  domain: string;
  password: string;
  workstation?: string;
  /** Tests pin these; default random / the challenge's timestamp (or now). */
  clientChallenge?: Buffer;
  timestamp?: Buffer;
}

/** Type 3 (client): NTLMv2 and LMv2 responses for the challenge, Unicode strings, no MIC, no key exchange. */
export async function createAuthenticateMessage(o: AuthenticateOptions): Promise<Buffer> {
  const clientChallenge = o.clientChallenge ?? randomChallenge();
  const serverTime = parseAvPairs(
    o.challenge.targetInfo.length > 0 ? o.challenge.targetInfo : Buffer.alloc(4),
  ).find((p) => p.id === AV_ID.TIMESTAMP)?.value;
  const timestamp = o.timestamp ?? serverTime ?? filetime(Date.now());
  const key = await ntowfv2(o.password, o.user, o.domain);
  const blob = ntlmv2Blob(timestamp, clientChallenge, o.challenge.targetInfo);
  const r = ntlmv2Responses(key, o.challenge.serverChallenge, blob, clientChallenge);
  const flags =
    NTLM_FLAGS.UNICODE |
    NTLM_FLAGS.REQUEST_TARGET |
    NTLM_FLAGS.NTLM |
    NTLM_FLAGS.ALWAYS_SIGN |
    (o.challenge.flags & (NTLM_FLAGS.EXTENDED_SESSIONSECURITY | NTLM_FLAGS.N128 | NTLM_FLAGS.N56));
  const h = Buffer.alloc(64);
  SIGNATURE.copy(h, 0);
  h.writeUInt32LE(3, 8);
  h.writeUInt32LE(flags >>> 0, 60);
  const u = (s: string): Buffer => Buffer.from(s, 'utf16le');
  return assemble(
    h,
    [12, 20, 28, 36, 44, 52],
    [r.lmResponse, r.ntResponse, u(o.domain), u(o.user), u(o.workstation ?? ''), Buffer.alloc(0)],
  );
}

export function parseAuthenticateMessage(buf: Buffer): AuthenticateMessage {
  expectType(buf, 3, 64);
  const flags = buf.readUInt32LE(60);
  const unicode = (flags & NTLM_FLAGS.UNICODE) !== 0;
  return {
    flags,
    lmResponse: field(buf, 12),
    ntResponse: field(buf, 20),
    domain: text(field(buf, 28), unicode),
    user: text(field(buf, 36), unicode),
    workstation: text(field(buf, 44), unicode),
  };
}

/** `Authorization: NTLM <b64>` or `Negotiate <b64 raw NTLMSSP>` → the scheme and message; undefined otherwise. */
export function ntlmFromAuthorization(
  header: string,
): { scheme: 'NTLM' | 'Negotiate'; message: Buffer } | undefined {
  const m = /^(NTLM|Negotiate)\s+([A-Za-z0-9+/=]{1,90000})\s*$/i.exec(header);
  if (!m) return undefined;
  const message = Buffer.from(m[2] ?? '', 'base64');
  if (ntlmMessageType(message) === undefined) return undefined;
  return { scheme: (m[1] ?? '').toLowerCase() === 'ntlm' ? 'NTLM' : 'Negotiate', message };
}
