// Mount auth options: scheme selection, the 0600 rule for credentials files, bearer/cookie/TLS wiring, and that no
// secret reaches an error message.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { authScheme, clientAuthOptions } from '../../src/cli/auth-options';
import { readCredentialsFile, resolveCredentials } from '../../src/cli/credentials';
import { UsageError } from '../../src/cli/usage-error';
import { parseCookieFile } from '../../src/protocol/auth/cookie-auth';
import { TempDirs } from '../helpers/temp-dirs';

const temps = new TempDirs();
afterAll(() => temps.cleanup());
const SECRET = 's3cret-p4ssw0rd-value';

function credFile(mode: number, text = `user=alice\npassword=${SECRET}\n`): string {
  const p = path.join(temps.make('spfs-cred-'), 'creds');
  fs.writeFileSync(p, text, { mode });
  fs.chmodSync(p, mode);
  return p;
}

describe('credentials file', () => {
  test('a 0600 file gives user and password', async () => {
    expect(await resolveCredentials(undefined, undefined, credFile(0o600))).toEqual({
      user: 'alice',
      password: SECRET,
    });
  });

  test('a world- or group-readable file is refused with a clear message that holds no secret', () => {
    const p = credFile(0o644);
    let err: unknown;
    try {
      readCredentialsFile(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain('chmod 600');
    expect((err as Error).message).not.toContain(SECRET);
  });

  test('a file without password is refused', () => {
    expect(() => readCredentialsFile(credFile(0o600, 'user=alice\n'))).toThrow(/no password/);
  });
});

describe('auth scheme and client options', () => {
  test('the scheme is implied by the options given, or explicit', () => {
    expect(authScheme({}, true)).toBe('basic');
    expect(authScheme({}, false)).toBeUndefined();
    expect(authScheme({ tokenFile: 't' }, false)).toBe('bearer');
    expect(authScheme({ cookieFile: 'c' }, false)).toBe('cookie');
    expect(authScheme({ auth: 'ntlm' }, true)).toBe('ntlm');
    expect(() => authScheme({ auth: 'kerberos' }, true)).toThrow(UsageError);
  });

  test('basic and ntlm take the credentials; bearer needs exactly one token source', () => {
    const creds = { user: 'alice', password: SECRET };
    expect(clientAuthOptions('https://h', {}, 'basic', creds)).toEqual({ credentials: creds });
    expect(clientAuthOptions('https://h', {}, 'ntlm', creds)).toEqual({ ntlm: creds });
    expect(() => clientAuthOptions('https://h', {}, 'bearer', undefined)).toThrow(/exactly one/);
    expect(clientAuthOptions('https://h', { tokenFile: '/x' }, 'bearer', undefined).auth?.scheme).toBe(
      'bearer',
    );
  });

  test('--ca must be a PEM file; --insecure turns verification off', () => {
    const pem = path.join(temps.make('spfs-ca-'), 'ca.pem');
    fs.writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    expect(clientAuthOptions('https://h', { ca: pem }, undefined, undefined).tls?.ca).toContain(
      'BEGIN CERTIFICATE',
    );
    expect(clientAuthOptions('https://h', { insecure: true }, undefined, undefined).tls).toEqual({
      insecure: true,
    });
    fs.writeFileSync(pem, 'junk');
    expect(() => clientAuthOptions('https://h', { ca: pem }, undefined, undefined)).toThrow(/not a PEM/);
  });

  test('cookie files: Netscape lines filtered by domain, or one Cookie line', () => {
    const netscape =
      '# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tTRUE\t0\tFedAuth\tabc\n#HttpOnly_sp.example.com\tFALSE\t/\tTRUE\t0\trtFa\txyz\nother.org\tTRUE\t/\tTRUE\t0\tX\t1\n';
    expect(parseCookieFile(netscape, 'sp.example.com')).toBe('FedAuth=abc; rtFa=xyz');
    expect(parseCookieFile('FedAuth=abc; rtFa=xyz\n', 'sp.example.com')).toBe('FedAuth=abc; rtFa=xyz');
    expect(() => parseCookieFile('bad cookie\n', 'h')).toThrow(/malformed/);
  });
});
