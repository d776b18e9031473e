// NTLMv2 arithmetic of MS-NLMP §3.3.2: NT hash, NTOWFv2, the NTLMv2 and LMv2 responses, NTProofStr and the
// session base key, and a constant-time verification of a client's response. Messages are in ntlm-messages.ts.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { md4 } from './md4';

export function hmacMd5(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('md5', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

function utf16(s: string): Buffer {
  return Buffer.from(s, 'utf16le');
}

/** MD4 of the UTF-16LE password: the "NT hash" a domain controller stores. */
export function ntHash(password: string): Promise<Buffer> {
  return md4(utf16(password));
}

/** NTOWFv2 = HMAC_MD5(NT hash, UNICODE(UPPER(user) ‖ domain)); also ResponseKeyLM. */
export function ntowfv2FromHash(hash: Uint8Array, user: string, domain: string): Buffer {
  return hmacMd5(hash, utf16(user.toUpperCase() + domain));
}

export async function ntowfv2(password: string, user: string, domain: string): Promise<Buffer> {
  return ntowfv2FromHash(await ntHash(password), user, domain);
}

/** Windows FILETIME (100 ns since 1601-01-01) of a Unix time in ms, little-endian, 8 bytes. */
export function filetime(unixMs: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE((BigInt(Math.round(unixMs)) + 11_644_473_600_000n) * 10_000n);
  return b;
}

/** The NTLMv2 client blob ("temp" of §3.3.2): version 1.1, timestamp, client challenge, the server's AV pairs. */
export function ntlmv2Blob(
  timestamp: Uint8Array,
  clientChallenge: Uint8Array,
  targetInfo: Uint8Array,
): Buffer {
  const head = Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([head, timestamp, clientChallenge, Buffer.alloc(4), targetInfo, Buffer.alloc(4)]);
}

export interface Ntlmv2Responses {
  /** NTProofStr ‖ blob. */
  ntResponse: Buffer;
  /** HMAC_MD5(key, server ‖ client challenge) ‖ client challenge. */
  lmResponse: Buffer;
  ntProofStr: Buffer;
  sessionBaseKey: Buffer;
}

/** The client's responses to a server challenge, given NTOWFv2 of its credentials. */
export function ntlmv2Responses(
  responseKey: Uint8Array,
  serverChallenge: Uint8Array,
  blob: Uint8Array,
  clientChallenge: Uint8Array,
): Ntlmv2Responses {
  const ntProofStr = hmacMd5(responseKey, serverChallenge, blob);
  return {
    ntResponse: Buffer.concat([ntProofStr, blob]),
    lmResponse: Buffer.concat([hmacMd5(responseKey, serverChallenge, clientChallenge), clientChallenge]),
    ntProofStr,
    sessionBaseKey: hmacMd5(responseKey, ntProofStr),
  };
}

export function randomChallenge(): Buffer {
  return randomBytes(8);
}

/** Smallest NTLMv2 response: 16-byte NTProofStr + the 28-byte fixed part of the blob. A 24-byte one is NTLMv1. */
const MIN_NTLMV2_RESPONSE_BYTES = 16 + 28;

/**
 * True when `ntResponse` is a valid NTLMv2 response to `serverChallenge` for this user: NTProofStr recomputed from
 * the client's own blob with NTOWFv2(password hash, user, domain) and compared in constant time.
 */
export function verifyNtlmv2(
  hash: Uint8Array,
  user: string,
  domain: string,
  serverChallenge: Uint8Array,
  ntResponse: Uint8Array,
): boolean {
  if (ntResponse.length < MIN_NTLMV2_RESPONSE_BYTES) return false;
  const proof = ntResponse.subarray(0, 16);
  const blob = ntResponse.subarray(16);
  if (blob[0] !== 1 || blob[1] !== 1) return false;
  const expected = hmacMd5(ntowfv2FromHash(hash, user, domain), serverChallenge, blob);
  return timingSafeEqual(expected, proof);
}
