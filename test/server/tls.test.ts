// HTTPS: with a certificate and key the server speaks TLS only, its URLs (site URL, PreAuthURLs) are https://, and
// a client that trusts the certificate gets the same answers as over HTTP. The certificate is made by openssl here.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { Harness, basic } from './server-harness';
import { makeSelfSignedCert } from '../helpers/self-signed-cert';

function httpsGet(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, headers: { authorization: basic() } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('HTTPS', () => {
  const h = new Harness();
  afterAll(() => h.cleanup());

  test('serves TLS with the given certificate; URLs in answers are https', async () => {
    const dir = await h.tempDir();
    const { key, cert } = makeSelfSignedCert(dir);
    const ca = fs.readFileSync(cert);
    const srv = await h.start({
      seedDir: await h.seed({ 'a.txt': 'over tls' }),
      tls: { cert: ca, key: fs.readFileSync(key) },
    });
    expect(srv.siteUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/personal\/alice$/);
    const me = await httpsGet(`${srv.origin}/_api/SP.UserProfiles.PeopleManager/GetMyProperties`, ca);
    expect(JSON.parse(me.body)).toMatchObject({ d: { PersonalUrl: `${srv.siteUrl}/` } });
    const changes = await httpsGet(
      `${srv.siteUrl}/_api/SPFileSync/sync/${srv.listId}/RootFolder?Filter=changes`,
      ca,
    );
    const preAuth = /<PreAuthURL>([^<]+)<\/PreAuthURL>/.exec(changes.body)?.[1]?.replace(/&amp;/g, '&');
    expect(preAuth).toMatch(/^https:\/\//);
    expect(await httpsGet(preAuth!, ca)).toEqual({ status: 200, body: 'over tls' });
    // A client that does not trust the certificate is refused by TLS; plain HTTP gets no HTTP answer.
    await expect(httpsGet(`${srv.siteUrl}/_api/Site/Id`, Buffer.alloc(0))).rejects.toThrow();
    await expect(
      new Promise((resolve, reject) =>
        http.get(`${srv.origin.replace('https', 'http')}/`, resolve).on('error', reject),
      ),
    ).rejects.toThrow();
  });
});
