// Server state and redirects with a stand-in (simulated server: the reference server never goes read-only, reports
// a health score or redirects): ReadOnly=1 surfaced and writes refused as ReadOnlyError, the health score exposed,
// same-origin redirects followed for GETs, other origins refused.
import { ProtocolError, ReadOnlyError } from '../../src/protocol/errors';
import { SpClient } from '../../src/protocol/sp-client';
import type { ItemId } from '../../src/shared/ids';
import { fakeClock } from './fake-clock';
import { fixtureFor, startFakeSpServer, type FakeSpServer } from './fake-sp-server';

let server: FakeSpServer | undefined;
let client: SpClient | undefined;
afterEach(async () => {
  await client?.close();
  await server?.close();
});

test('ReadOnly=1 and the health score are exposed; a refused write is a ReadOnlyError (simulated server)', async () => {
  server = await startFakeSpServer((req, res) => {
    const headers = { 'x-sp-serverstate': 'ReadOnly=1', 'x-sharepointhealthscore': '9' };
    if (req.method === 'GET') return res.writeHead(200, headers).end(fixtureFor('policy.xml', ''));
    res.writeHead(403, headers).end();
  });
  client = await SpClient.connect({ url: server.siteUrl, clock: fakeClock() });
  const seen: boolean[] = [];
  client.onServerState((s) => seen.push(s.readOnly));
  await client.policy();
  expect(client.serverState).toEqual({ readOnly: true, healthScore: 9 });
  expect(seen).toEqual([true]);
  const err = await client
    .createFolder('0123456789abcdef0123456789abcdef' as ItemId, 'x')
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ReadOnlyError);
});

test('same-origin redirects are followed for GETs; another origin is refused (simulated server)', async () => {
  server = await startFakeSpServer((req, res) => {
    if (req.url?.includes('/policy/')) return res.writeHead(302, { location: '/moved/policy' }).end();
    if (req.url === '/moved/policy') return res.writeHead(200).end(fixtureFor('policy.xml', ''));
    res.writeHead(301, { location: 'http://elsewhere.invalid/x' }).end();
  });
  client = await SpClient.connect({ url: server.siteUrl, clock: fakeClock() });
  expect((await client.policy()).itemCount).toBe(500);
  await expect(client.rootFolder()).rejects.toBeInstanceOf(ProtocolError);
});
