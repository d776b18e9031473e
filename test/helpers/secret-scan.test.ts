import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filesWithSecrets, secretForms } from './secret-scan';

describe('the suite-wide secret scan', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'spfs-secret-scan-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const cred = { user: 'tester', password: 'pw-s3cr3tvalue' };

  it('finds a password in clear and as a Basic header value, in nested files', () => {
    mkdirSync(join(dir, 'cache'));
    writeFileSync(join(dir, 'cache', 'spfs.log'), `{"msg":"retry","pw":"${cred.password}"}\n`);
    const basic = Buffer.from(`${cred.user}:${cred.password}`).toString('base64');
    writeFileSync(join(dir, 'requests.log'), `{"authorization":"Basic ${basic}"}\n`);
    const found = filesWithSecrets([dir], secretForms(cred));
    expect(found).toHaveLength(2);
    expect(found.some((f) => f.includes('spfs.log'))).toBe(true);
    expect(found.some((f) => f.includes('requests.log'))).toBe(true);
  });

  it('leaves alone the credentials files the tests write on purpose (*.cred)', () => {
    writeFileSync(join(dir, 'lib.cred'), `user=tester\npassword=${cred.password}\n`);
    expect(filesWithSecrets([dir], secretForms(cred))).toEqual([]);
  });

  it('passes files without them', () => {
    writeFileSync(join(dir, 'spfs.log'), '{"msg":"mounted","user":"tester","password":"[redacted]"}\n');
    expect(filesWithSecrets([dir], secretForms(cred))).toEqual([]);
  });
});
