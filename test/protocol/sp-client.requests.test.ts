// What SpClient puts on the wire and how it reads unusual-but-legal answers, checked on a node:http stand-in that
// records the exact request target (the reference server is covered in sp-client.integration.test.ts).
import { gzipSync } from 'node:zlib';
import type { ServerResponse } from 'node:http';
import { ProtocolError, RangeNotSatisfiableError } from '../../src/protocol/errors';
import { SpClient, tokenForQuery } from '../../src/protocol/sp-client';
import type { ItemId } from '../../src/shared/ids';
import { fakeClock } from './fake-clock';
import { fixtureFor, startFakeSpServer, type FakeHandler, type FakeSpServer } from './fake-sp-server';

const TOKEN = '4;%234;%231;3;be100e28-dd1c-4f2f-8e83-acdb6fffff05;638766798720000000;6;%23;%23;%230;%23';
const CREDS = { user: 'alice', password: 'pa55-word' };

let servers: FakeSpServer[] = [];
let clients: SpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
  clients = [];
  servers = [];
});

async function setup(handler: FakeHandler, url?: (s: FakeSpServer) => string) {
  const server = await startFakeSpServer(handler);
  servers.push(server);
  const client = await SpClient.connect({
    url: url ? url(server) : server.siteUrl,
    credentials: CREDS,
    clock: fakeClock(),
    random: () => 0.5,
  });
  clients.push(client);
  return { server, client };
}

const xml = (res: ServerResponse, body: string, headers: Record<string, string> = {}): void => {
  res.writeHead(200, { 'content-type': 'Application/Web3s+xml', ...headers }).end(body);
};

describe('SpClient requests', () => {
  test('connect via the server origin finds the personal site through GetMyProperties', async () => {
    const { server, client } = await setup(
      () => undefined,
      (s) => `${s.origin}/`,
    );
    expect(client.library).toEqual({
      siteUrl: server.siteUrl,
      listId: server.listId,
      siteId: '5d2445a6f48d4f6cb190640d11e29a93',
    });
  });

  test('a sync token with %23 goes back verbatim, never double-encoded', async () => {
    const { server, client } = await setup((_req, res) =>
      xml(res, fixtureFor('changes-nochanges.xml', ''), {
        'X-SyncStatus': 'NoChanges',
        'X-SyncToken': TOKEN,
      }),
    );
    const page = await client.changes({ token: TOKEN, maxItemCount: 50 });
    expect(server.requests[0]!.url).toBe(
      `/personal/alice/_api/SPFileSync/sync/${server.listId}/RootFolder?Filter=changes&InlineBlobs=false` +
        `&MaxItemCount=50&SyncToken=${TOKEN}&View=SkyDriveSync`,
    );
    expect(page).toMatchObject({ status: 'NoChanges', token: TOKEN, hasMore: false, items: [] });
  });

  test('only query-breaking characters of a token are escaped', () => {
    expect(tokenForQuery(TOKEN)).toBe(TOKEN);
    expect(tokenForQuery('1;#2 &x=%zz%2F')).toBe('1;%232%20%26x=%25zz%2F');
  });

  test('identity, auth and content negotiation headers; flat structure on request', async () => {
    const { server, client } = await setup((_req, res) =>
      xml(res, fixtureFor('changes-flat-incremental.xml', ''), {
        'X-SyncStatus': 'IncrementalChanges',
        'X-SyncToken': TOKEN,
      }),
    );
    await client.changes({ token: TOKEN, maxItemCount: 10, flat: true });
    const h = server.requests[0]!.headers;
    expect(h['user-agent']).toMatch(/^spfs\/\d+\.\d+\.\d+/);
    expect(h.accept).toBe('application/web3s+xml');
    expect(h['accept-encoding']).toBe('gzip');
    expect(h.authorization).toBe(`Basic ${Buffer.from('alice:pa55-word').toString('base64')}`);
    expect(h.application).toBe('SkyDriveSync');
    expect(h['x-machineid']).toMatch(/^[0-9a-f-]{36}$/);
    expect(h['x-responsestructure']).toBe('Flat');
  });

  test('children: E6 URL shape and X-HasMoreData', async () => {
    const { server, client } = await setup((_req, res) =>
      xml(res, fixtureFor('children-page.xml', ''), { 'X-HasMoreData': 'true' }),
    );
    const page = await client.children('0f3c9e2a7b7d4c55a1d24b1f6e9c0a11' as ItemId, {
      foldersOnly: true,
      offset: 0,
      count: 1,
    });
    expect(server.requests[0]!.url).toBe(
      `/personal/alice/_api/SPFileSync/sync/${server.listId}/Items/0f3c9e2a7b7d4c55a1d24b1f6e9c0a11` +
        '?View=SkyDriveSync&Depth=0&FoldersOnly=true&web3s.paging=0,1',
    );
    expect(page.hasMore).toBe(true);
    expect(page.items).toHaveLength(1);
  });

  test('gzip bodies are decompressed (simulated fault: compressing stand-in)', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(fixtureFor('policy.xml', '')));
    });
    expect((await client.policy()).itemCount).toBe(500);
  });

  test('a gzip bomb beyond the body cap is a ProtocolError (simulated fault)', async () => {
    const bomb = gzipSync(Buffer.alloc(65 * 1024 * 1024, 0x20));
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(bomb);
    });
    await expect(client.policy()).rejects.toThrow(/gzip/);
  });

  test('HTTP 304 on E7 is NoChanges with the sent token and the root (simulated fault)', async () => {
    const { client } = await setup((req, res) => {
      if ((req.url ?? '').includes('Filter=changes')) res.writeHead(304).end();
      else xml(res, fixtureFor('root-folder.xml', ''));
    });
    const page = await client.changes({ token: TOKEN, maxItemCount: 5 });
    expect(page).toMatchObject({ status: 'NoChanges', token: TOKEN, hasMore: false, items: [] });
    expect(page.root.id).toBe('0f3c9e2a7b7d4c55a1d24b1f6e9c0a11');
  });

  test('ResyncNeeded with X-ResyncAction and no token', async () => {
    const { client } = await setup((_req, res) =>
      xml(res, fixtureFor('changes-nochanges.xml', ''), {
        'X-SyncStatus': 'ResyncNeeded',
        'X-ResyncAction': 'DifferentialUpload',
      }),
    );
    const page = await client.changes({ token: TOKEN, maxItemCount: 5 });
    expect(page.status).toBe('ResyncNeeded');
    expect(page.resyncAction).toBe('DifferentialUpload');
    expect(page.token).toBeUndefined();
  });
});

describe('SpClient downloads', () => {
  const BYTES = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

  async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of it) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
  }

  test('a PreAuthURL on another origin is refused before any request is sent', async () => {
    const elsewhere = await startFakeSpServer((_req, res) => res.end('stolen'));
    servers.push(elsewhere);
    const { client } = await setup((_req, res) => res.end());
    await expect(
      client.download(`${elsewhere.origin}/personal/alice/_layouts/15/download.aspx`),
    ).rejects.toThrow(ProtocolError);
    expect(elsewhere.requests).toHaveLength(0);
  });

  test('206 with Content-Range: the slice and the total size', async () => {
    const { server, client } = await setup((req, res) => {
      const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '')!;
      const [a, b] = [Number(m[1]), Number(m[2])];
      res.writeHead(206, { 'content-range': `bytes ${a}-${b}/${BYTES.length}`, etag: '"v1"' });
      res.end(BYTES.subarray(a, b + 1));
    });
    const dl = await client.download(`${server.siteUrl}/_layouts/15/download.aspx?UniqueId=x`, {
      start: 100,
      end: 299,
    });
    expect(server.requests[0]!.headers.range).toBe('bytes=100-299');
    expect(server.requests[0]!.headers['accept-encoding']).toBe('identity');
    expect(dl).toMatchObject({ status: 206, totalSize: 1000, etag: '"v1"' });
    expect((await collect(dl.body)).equals(BYTES.subarray(100, 300))).toBe(true);
  });

  test('a server that ignores Range (200) still yields exactly the requested bytes (simulated fault)', async () => {
    const { server, client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': String(BYTES.length) }).end(BYTES);
    });
    const dl = await client.download(`${server.siteUrl}/f`, { start: 10, end: 19 });
    expect(dl.status).toBe(200);
    expect(dl.totalSize).toBe(1000);
    expect((await collect(dl.body)).equals(BYTES.subarray(10, 20))).toBe(true);
  });

  test("the caller's abort signal rejects with its own reason and is not retried", async () => {
    const { server, client } = await setup(() => undefined); // never answers
    const ctl = new AbortController();
    const pending = client.download(`${server.siteUrl}/f`, undefined, ctl.signal);
    const reason = new Error('user gave up');
    setImmediate(() => ctl.abort(reason));
    await expect(pending).rejects.toBe(reason);
    expect(server.requests.length).toBeLessThanOrEqual(1);
  });

  test('416 → RangeNotSatisfiableError with the size', async () => {
    const { server, client } = await setup((_req, res) => {
      res.writeHead(416, { 'content-range': 'bytes */1000' }).end();
    });
    const err = await client.download(`${server.siteUrl}/f`, { start: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RangeNotSatisfiableError);
    expect((err as RangeNotSatisfiableError).totalSize).toBe(1000);
  });

  test('a 206 whose Content-Range does not match the request is a ProtocolError (simulated fault)', async () => {
    const { server, client } = await setup((_req, res) => {
      res.writeHead(206, { 'content-range': 'bytes 0-9/1000' }).end(BYTES.subarray(0, 10));
    });
    await expect(client.download(`${server.siteUrl}/f`, { start: 500, end: 509 })).rejects.toThrow(
      /Content-Range/,
    );
  });
});
