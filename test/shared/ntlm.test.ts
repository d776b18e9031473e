// NTLM primitives against published vectors: MD4 (RFC 1320 §A.5) and NTLMv2 (MS-NLMP §4.2.4), and a full
// negotiate → challenge → authenticate round trip through the message codecs.
import { md4 } from '../../src/shared/ntlm/md4';
import {
  ntHash,
  ntlmv2Blob,
  ntlmv2Responses,
  ntowfv2,
  verifyNtlmv2,
} from '../../src/shared/ntlm/ntlm-crypto';
import {
  AV_ID,
  avPairs,
  createAuthenticateMessage,
  createChallengeMessage,
  createNegotiateMessage,
  ntlmFromAuthorization,
  parseAuthenticateMessage,
  parseChallengeMessage,
  parseNegotiateMessage,
} from '../../src/shared/ntlm/ntlm-messages';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('MD4 (RFC 1320 test suite)', () => {
  test.each([
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['1234567890'.repeat(8), 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ])('MD4(%j)', async (input, digest) => {
    expect((await md4(Buffer.from(input, 'latin1'))).toString('hex')).toBe(digest);
  });
});

describe('NTLMv2 (MS-NLMP 4.2.4)', () => {
  const user = 'User';
  const domain = 'Domain';
  const password = 'Password';
  const serverChallenge = hex('0123456789abcdef');
  const clientChallenge = hex('aaaaaaaaaaaaaaaa');
  const time = Buffer.alloc(8);
  const u = (s: string): Buffer => Buffer.from(s, 'utf16le');
  const targetInfo = avPairs([
    { id: AV_ID.NB_DOMAIN_NAME, value: u('Domain') },
    { id: AV_ID.NB_COMPUTER_NAME, value: u('Server') },
  ]);

  test('NT hash of "Password" (4.2.2.1.2) and NTOWFv2 (4.2.4.1.1)', async () => {
    expect((await ntHash(password)).toString('hex')).toBe('a4f49c406510bdcab6824ee7c30fd852');
    expect((await ntowfv2(password, user, domain)).toString('hex')).toBe('0c868a403bfd7a93a3001ef22ef02e3f');
  });

  test('LMv2 response, NTProofStr and session base key (4.2.4.2)', async () => {
    const blob = ntlmv2Blob(time, clientChallenge, targetInfo);
    const r = ntlmv2Responses(await ntowfv2(password, user, domain), serverChallenge, blob, clientChallenge);
    expect(r.lmResponse.toString('hex')).toBe('86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa');
    expect(r.ntProofStr.toString('hex')).toBe('68cd0ab851e51c96aabc927bebef6a1c');
    expect(r.sessionBaseKey.toString('hex')).toBe('8de40ccadbc14a82f15cb0ad0de95ca3');
    const hash = await ntHash(password);
    expect(verifyNtlmv2(hash, user, domain, serverChallenge, r.ntResponse)).toBe(true);
    expect(verifyNtlmv2(hash, 'user', domain, serverChallenge, r.ntResponse)).toBe(true); // user name is upper-cased
    expect(verifyNtlmv2(hash, user, 'DOMAIN', serverChallenge, r.ntResponse)).toBe(false); // domain is not
    expect(verifyNtlmv2(await ntHash('password'), user, domain, serverChallenge, r.ntResponse)).toBe(false);
    expect(verifyNtlmv2(hash, user, domain, hex('0123456789abcdee'), r.ntResponse)).toBe(false);
    expect(verifyNtlmv2(hash, user, domain, serverChallenge, r.ntResponse.subarray(0, 24))).toBe(false); // NTLMv1
  });
});

describe('NTLM messages', () => {
  test('type 1 → type 2 → type 3 round trip verifies, through the Authorization header parser', async () => {
    const t1 = createNegotiateMessage();
    const parsed1 = ntlmFromAuthorization(`NTLM ${t1.toString('base64')}`);
    expect(parsed1?.scheme).toBe('NTLM');
    const neg = parseNegotiateMessage(parsed1!.message);
    const serverChallenge = hex('1122334455667788');
    const t2 = createChallengeMessage({
      clientFlags: neg.flags,
      serverChallenge,
      domain: 'SPFS',
      computer: 'SPFS-SERVER',
      nowMs: Date.parse('2025-01-01T00:00:00Z'),
    });
    const chal = parseChallengeMessage(t2);
    expect(chal.targetName).toBe('SPFS');
    expect(chal.serverChallenge).toEqual(serverChallenge);
    const t3 = await createAuthenticateMessage({
      challenge: chal,
      user: 'alice',
      domain: 'SPFS',
      password: 'pw',
      workstation: 'WS',
    });
    const parsed3 = ntlmFromAuthorization(`Negotiate ${t3.toString('base64')}`);
    expect(parsed3?.scheme).toBe('Negotiate');
    const auth = parseAuthenticateMessage(parsed3!.message);
    expect([auth.user, auth.domain, auth.workstation]).toEqual(['alice', 'SPFS', 'WS']);
    expect(verifyNtlmv2(await ntHash('pw'), auth.user, auth.domain, serverChallenge, auth.ntResponse)).toBe(
      true,
    );
  });

  test('hostile messages: wrong signature, truncated, fields pointing outside are refused', () => {
    expect(ntlmFromAuthorization('NTLM aGVsbG8=')).toBeUndefined();
    expect(ntlmFromAuthorization('Negotiate YIIB')).toBeUndefined(); // SPNEGO/Kerberos, not raw NTLMSSP
    expect(() => parseAuthenticateMessage(createNegotiateMessage())).toThrow(/type 3/);
    const t3 = Buffer.alloc(64);
    Buffer.from('NTLMSSP\0', 'latin1').copy(t3);
    t3.writeUInt32LE(3, 8);
    t3.writeUInt16LE(200, 20);
    t3.writeUInt32LE(10, 24);
    expect(() => parseAuthenticateMessage(t3)).toThrow(/outside/);
    expect(() => parseAuthenticateMessage(t3.subarray(0, 40))).toThrow(/truncated/);
  });
});
