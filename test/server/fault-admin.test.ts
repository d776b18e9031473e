// Fault injection and the admin endpoint over real HTTP: each fault kind, route matching and counts, --fault flag
// syntax, admin changes applied as another user (seen by E7 and by subscriptions), and the admin endpoint's guards.
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import type { RunningServer } from '../../src/server';
import { parseFaultFlag } from '../../src/server/fault-plan';
import { readPage } from './page-reader';
import { issueDigest } from '../../src/server/form-digest';
import { Harness, TestClock, basic, get, sfs } from './server-harness';

const TOKEN = 'admin-token-for-tests-0123456789';
const FILE = 'x'.repeat(100_000);

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  error?: string;
}

/** GET that reports what arrived before an error instead of throwing. */
function rawGet(url: string, timeoutMs = 0): Promise<Raw> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    const req = http.get(url, { headers: { authorization: basic() }, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks) }));
      res.on('error', (e: NodeJS.ErrnoException) =>
        resolve({ status, headers, body: Buffer.concat(chunks), error: e.code ?? e.message }),
      );
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      resolve({ status, headers, body: Buffer.concat(chunks), error: e.code ?? e.message }),
    );
    if (timeoutMs > 0)
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  });
}

describe('fault injection and the admin endpoint', () => {
  const h = new Harness();
  let srv: RunningServer;
  let download: string;
  const admin = (path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(`${srv.origin}/_spfs/admin${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    });
  const fault = async (spec: object): Promise<void> => {
    expect((await admin('/faults', { method: 'POST', body: JSON.stringify(spec) })).status).toBe(201);
  };

  beforeAll(async () => {
    srv = await h.start({
      host: '0.0.0.0',
      seedDir: await h.seed({ 'big.txt': FILE, 'docs/a.txt': 'a' }),
      adminToken: TOKEN,
    });
    const page = readPage(await (await get(sfs(srv, 'RootFolder?Filter=changes'))).text());
    const big = page.entries.find((e) => e.name === 'big.txt')!;
    download = `${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${big.id}`;
  });
  afterEach(async () => {
    await admin('/faults', { method: 'DELETE' });
  });
  afterAll(() => h.cleanup());

  test('status: 503 with Retry-After for the next N matching requests only, other routes untouched', async () => {
    await fault({
      kind: 'status',
      status: 503,
      retryAfterSeconds: 7,
      count: 2,
      method: 'GET',
      path: 'policy',
    });
    expect((await get(sfs(srv, 'RootFolder'))).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const res = await get(sfs(srv, 'policy/'));
      expect([res.status, res.headers.get('retry-after')]).toEqual([503, '7']);
    }
    expect((await get(sfs(srv, 'policy/'))).status).toBe(200);
    await fault({ kind: 'status', status: 429, forMs: 60_000, path: 'policy' });
    expect((await get(sfs(srv, 'policy/'))).status).toBe(429);
    expect((await get(sfs(srv, 'policy/'))).status).toBe(429);
    const listed = (await (await admin('/faults')).json()) as { faults: { kind: string }[] };
    expect(listed.faults.map((f) => f.kind)).toEqual(['status']);
  });

  test('status: the request body is read to its end before the 503 (answering early would reset the answer)', async () => {
    // Answered and closed while the client still sends its body, the connection is reset by the kernel as the rest
    // arrives, and a busy client loses the 503 and its Retry-After (it saw "other side closed" in the fault storm).
    await fault({ kind: 'status', status: 503, retryAfterSeconds: 3, method: 'POST', path: 'RootFolder' });
    const url = new URL(sfs(srv, 'RootFolder?View=SkyDriveSync'));
    const sock = net.connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    sock.on('data', (d: Buffer) => received.push(d));
    const closed = new Promise((r) => sock.once('close', r));
    sock.write(
      `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${basic()}\r\n` +
        'Content-Length: 200000\r\n\r\n',
    );
    sock.write(Buffer.alloc(100_000, 'a'));
    await new Promise((r) => setTimeout(r, 300));
    const before = Buffer.concat(received).length;
    sock.write(Buffer.alloc(100_000, 'b'));
    await closed;
    const answer = Buffer.concat(received).toString('latin1');
    expect([before, /^HTTP\/1\.1 503/.test(answer), /\r\nretry-after: 3\r\n/i.test(answer)]).toEqual([
      0,
      true,
      true,
    ]);
  });

  test('latency delays the answer without changing it', async () => {
    await fault({ kind: 'latency', delayMs: 300, path: 'policy' });
    const started = Date.now();
    const res = await get(sfs(srv, 'policy/'));
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  test('reset before the answer, reset and clean truncation in the middle of a body', async () => {
    await fault({ kind: 'reset', path: 'download' });
    const reset = await rawGet(download);
    expect([reset.status, reset.error]).toEqual([0, 'ECONNRESET']);
    await fault({ kind: 'reset-mid-body', afterBytes: 1000, path: 'download' });
    const mid = await rawGet(download);
    expect(mid.status).toBe(200);
    expect(mid.error).toBeDefined();
    expect(mid.body.length).toBeLessThan(FILE.length);
    await fault({ kind: 'truncate', afterBytes: 5000, path: 'download' });
    const cut = await rawGet(download);
    expect(cut.headers['content-length']).toBe(String(FILE.length));
    expect(cut.body.length).toBe(5000);
    expect(cut.error).toBeDefined();
    expect((await rawGet(download)).body.length).toBe(FILE.length); // rules used up
  });

  test('stall after N bytes: headers and the first bytes arrive, then nothing until the client gives up', async () => {
    await fault({ kind: 'stall', afterBytes: 2000, path: 'download' });
    const stalled = await rawGet(download, 500);
    expect([stalled.status, stalled.body.length, stalled.error]).toEqual([200, 2000, 'TIMEOUT']);
  });

  test('malformed XML keeps status and headers but breaks the document', async () => {
    await fault({ kind: 'malformed-xml', path: 'Filter=changes' });
    const res = await get(sfs(srv, 'RootFolder?Filter=changes'), { 'accept-encoding': 'gzip' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-syncstatus')).toBe('FullData');
    const body = await res.text();
    expect(body.endsWith('<<&Broken')).toBe(true);
    expect(() => readPage(body)).toThrow();
  });

  test('resync-needed answers change enumeration with ResyncNeeded + ResetReupload and no token', async () => {
    await fault({ kind: 'resync-needed' });
    const res = await get(sfs(srv, 'RootFolder?Filter=changes&SyncToken=x'));
    expect(res.headers.get('x-syncstatus')).toBe('ResyncNeeded');
    expect(res.headers.get('x-resyncaction')).toBe('ResetReupload');
    expect(res.headers.get('x-synctoken')).toBeNull();
    expect(await res.text()).not.toContain('<Items>');
  });

  test('etag-conflict: a DELETE with the current ETag gets 412 while the rule lasts', async () => {
    const page = readPage(await (await get(sfs(srv, 'RootFolder?Filter=changes'))).text());
    const a = page.entries.find((e) => e.name === 'big.txt')!;
    const etag = /<ETag>([^<]+)<\/ETag>/
      .exec(await (await get(sfs(srv, `Items/${a.id}`))).text())![1]!
      .replace(/&quot;/g, '"');
    const digest = issueDigest('alice', new TestClock().now());
    const del = (): Promise<Response> =>
      fetch(sfs(srv, `Items/${a.id}`), {
        method: 'DELETE',
        headers: { authorization: basic(), 'x-requestdigest': digest, 'if-match': etag },
      });
    await fault({ kind: 'etag-conflict', method: 'DELETE' });
    expect((await del()).status).toBe(412);
    expect((await get(sfs(srv, `Items/${a.id}`))).status).toBe(200);
  });

  test('admin changes as another user: create, edit, rename, move, delete — visible in E7', async () => {
    const first = await get(sfs(srv, 'RootFolder?Filter=changes'));
    const token = first.headers.get('x-synctoken')!;
    const change = async (c: object): Promise<Response> =>
      admin('/changes', { method: 'POST', body: JSON.stringify({ user: 'mallory', ...c }) });
    expect((await change({ op: 'create-folder', path: 'new' })).status).toBe(200);
    expect((await change({ op: 'create-file', path: 'new/n.txt', content: 'v1' })).status).toBe(200);
    const edited = await change({ op: 'edit-file', path: 'NEW/n.txt', content: 'version 2' });
    expect(((await edited.json()) as { item: { version: number; size: number } }).item).toMatchObject({
      size: 9,
    });
    expect((await change({ op: 'rename', path: 'docs/a.txt', to: 'b.txt' })).status).toBe(200);
    expect((await change({ op: 'move', path: 'docs/b.txt', to: 'new' })).status).toBe(200);
    expect((await change({ op: 'delete', path: 'docs' })).status).toBe(200);
    const bad = await change({ op: 'delete', path: 'nope/x' });
    expect(bad.status).toBe(400);
    const inc = readPage(
      await (
        await get(sfs(srv, `RootFolder?Filter=changes&SyncToken=${token}`), { 'X-ResponseStructure': 'Flat' })
      ).text(),
    );
    const byName = new Map(inc.entries.map((e) => [e.name, e]));
    expect(byName.get('n.txt')).toBeDefined();
    expect(byName.get('b.txt')).toBeDefined();
    expect(inc.entries.some((e) => e.deleted)).toBe(true);
  });

  test('the admin endpoint: 401 without its token (a user’s password is not it), 403 from a non-loopback address', async () => {
    const noToken = await fetch(`${srv.origin}/_spfs/admin/faults`);
    expect(noToken.status).toBe(401);
    const userCreds = await fetch(`${srv.origin}/_spfs/admin/faults`, {
      headers: { authorization: basic() },
    });
    expect(userCreds.status).toBe(401);
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
    if (external === undefined) return; // no non-loopback interface on this machine: nothing more to check
    const port = new URL(srv.origin).port;
    const res = await new Promise<number>((resolve, reject) => {
      http
        .get(
          {
            host: external.address,
            port,
            path: '/_spfs/admin/faults',
            localAddress: external.address,
            headers: { authorization: `Bearer ${TOKEN}` },
          },
          (r) => {
            r.resume();
            resolve(r.statusCode ?? 0);
          },
        )
        .on('error', reject);
    });
    expect(res).toBe(403);
    expect(net.isIP(external.address)).toBe(4);
  });

  test('admin is off unless enabled; --fault flags parse into rules', async () => {
    const plain = await h.start();
    expect(
      (await fetch(`${plain.origin}/_spfs/admin/faults`, { headers: { authorization: `Bearer ${TOKEN}` } }))
        .status,
    ).toBe(401);
    expect(parseFaultFlag('status:status=503,retryAfterSeconds=2,count=3,path=Filter=changes')).toEqual({
      kind: 'status',
      status: 503,
      retryAfterSeconds: 2,
      count: 3,
      path: 'Filter=changes',
    });
    expect(() => parseFaultFlag('explode')).toThrow(/fault kind/);
    expect(() => parseFaultFlag('status:status=500')).toThrow(/429 or 503/);
  });
});
