// The server's HTTP surface over real HTTP: auth, routing and error bodies, gzip, E4/E6/E12 variants, seed import
// rules, restart stability and the request log.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { RunningServer } from '../../src/server';
import { readPage } from './page-reader';
import { Harness, USER, basic, get, sfs } from './server-harness';
import { parseXml } from './xml-compare';

function rawGet(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      })
      .on('error', reject);
  });
}

async function flatAll(srv: RunningServer): Promise<ReturnType<typeof readPage>['entries']> {
  const res = await get(sfs(srv, 'RootFolder?Filter=changes&View=SkyDriveSync'), {
    'X-ResponseStructure': 'Flat',
  });
  return readPage(await res.text()).entries;
}

describe('reference server HTTP surface', () => {
  const h = new Harness();
  afterEach(() => h.cleanup());

  test('401 with a Basic challenge when credentials are missing or wrong; the right ones pass', async () => {
    const srv = await h.start({ users: [USER, { name: 'bob', password: 'builder' }] });
    const url = sfs(srv, 'policy/');
    for (const headers of [
      {},
      { authorization: basic(USER.name, 'wrong') },
      { authorization: basic('nobody', 'x') },
    ]) {
      const res = await fetch(url, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('Basic realm="spfs"');
      expect(await res.text()).toContain('System.UnauthorizedAccessException');
    }
    expect((await fetch(url, { headers: { authorization: basic() } })).status).toBe(200);
    // bob authenticates, but alice's library is not his (users.test.ts covers isolation in depth).
    expect((await fetch(url, { headers: { authorization: basic('bob', 'builder') } })).status).toBe(403);
  });

  test('GetMyProperties names the authenticated user’s personal site, which serves their own library', async () => {
    const srv = await h.start({ users: [USER, { name: 'bob', password: 'builder' }] });
    const res = await fetch(`${srv.origin}/_api/SP.UserProfiles.PeopleManager/GetMyProperties`, {
      headers: { authorization: basic('bob', 'builder') },
    });
    const body = (await res.json()) as { d: { PersonalUrl: string } };
    expect(body.d.PersonalUrl).toBe(`${srv.origin}/personal/bob/`);
    const lib = await fetch(`${body.d.PersonalUrl}_api/web/DefaultDocumentLibrary/ID`, {
      headers: { authorization: basic('bob', 'builder') },
    });
    const bobList = srv.libraries.find((l) => l.site === 'personal/bob')!.listId;
    expect(((await lib.json()) as { d: { Id: string } }).d.Id.replace(/-/g, '')).toBe(bobList);
    expect(bobList).not.toBe(srv.listId);
  });

  test('unknown routes, unknown sites and unknown lists → 404 with the SharePoint error XML; POST → 405', async () => {
    const srv = await h.start();
    for (const url of [
      `${srv.origin}/nope`,
      `${srv.origin}/personal/mallory/_api/Site/Id`,
      `${srv.siteUrl}/_api/SPFileSync/sync/00000000000000000000000000000000/policy/`,
      sfs(srv, 'Unknown'),
    ]) {
      const res = await get(url);
      expect(res.status).toBe(404);
      const err = parseXml(await res.text())[0]!;
      expect(err.name).toBe('m:error');
      expect(err.children.map((c) => c.name)).toEqual(['m:code', 'm:message']);
    }
    const post = await fetch(sfs(srv, 'policy/'), {
      method: 'POST',
      headers: { authorization: basic() },
      body: 'x',
    });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  test('E4 routing: case-insensitive, list id dashed or braced, trailing slash optional', async () => {
    const srv = await h.start();
    const L = srv.listId;
    const dashed = `${L.slice(0, 8)}-${L.slice(8, 12)}-${L.slice(12, 16)}-${L.slice(16, 20)}-${L.slice(20)}`;
    for (const list of [L, dashed, `%7B${dashed.toUpperCase()}%7D`]) {
      for (const p of ['policy/', 'Policy', 'POLICY/']) {
        const res = await get(`${srv.siteUrl}/_api/spfilesync/SYNC/${list}/${p}`);
        expect(res.status).toBe(200);
        const rules = parseXml(await res.text())[0]!.children;
        expect(rules.find((r) => r.attrs['@_name'] === 'ItemCount')?.attrs['@_value']).toBe('500');
      }
    }
  });

  test('large XML is gzipped when the client accepts gzip, and not otherwise', async () => {
    const spec: Record<string, string> = {};
    for (let i = 0; i < 30; i++) spec[`file-${i}.txt`] = `content ${i}`;
    const srv = await h.start({ seedDir: await h.seed(spec) });
    const url = sfs(srv, 'RootFolder?Filter=changes&View=SkyDriveSync');
    const zipped = await rawGet(url, { authorization: basic(), 'accept-encoding': 'gzip' });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    const plain = await rawGet(url, { authorization: basic() });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
    expect(zipped.body.length).toBeLessThan(plain.body.length);
  });

  test('E6 pages a folder’s children by name then id, FoldersOnly filters, unknown item → 404; E12 describes one item', async () => {
    const srv = await h.start({
      seedDir: await h.seed({ 'D/b.txt': 'b', 'D/A.txt': 'a', 'D/c': null, 'D/d.txt': 'd', 'D/E': null }),
    });
    const d = (await flatAll(srv)).find((e) => e.name === 'D')!;
    const names: string[] = [];
    for (let off = 0; ; off += 2) {
      const res = await get(sfs(srv, `Items/${d.id}?View=SkyDriveSync&Depth=0&web3s.paging=${off},2`));
      const page = readPage(await res.text()).entries;
      expect(page.length).toBeLessThanOrEqual(2);
      names.push(...page.map((e) => e.name));
      if (res.headers.get('x-hasmoredata') !== 'True') break;
    }
    expect(names).toEqual(['A.txt', 'b.txt', 'c', 'd.txt', 'E']);
    const folders = await get(
      sfs(srv, `Items/${d.id}?View=SkyDriveSync&Depth=0&FoldersOnly=true&web3s.paging=0,100`),
    );
    expect(readPage(await folders.text()).entries.map((e) => e.name)).toEqual(['c', 'E']);
    expect(folders.headers.get('x-hasmoredata')).toBe('False');
    const missing = await get(sfs(srv, 'Items/0123456789abcdef0123456789abcdef?View=SkyDriveSync&Depth=0'));
    expect(missing.status).toBe(404);
    const meta = await get(sfs(srv, `Items/${d.id}?View=SkyDriveSync`));
    const folder = parseXml(await meta.text())[0]!;
    expect(folder.name).toBe('Folder');
    expect(folder.children.find((c) => c.name === 'Path')?.text).toBe('/RootFolder/D');
    expect(folder.children.some((c) => c.name === 'Items')).toBe(false);
  });

  test('seed: non-ASCII names and spaces kept; symlinks, case twins and SharePoint-forbidden names skipped', async () => {
    const seedDir = await h.seed({
      'Ünïcødé földer/naïve café.txt': 'x',
      'with space.txt': 'y',
      '日本語.md': 'z',
      'bad:name.txt': 'no',
      'trailing.': 'no',
      'CON.txt': 'no',
      'desktop.ini': 'no',
      'Twin.txt': 'first',
      'twin.txt': 'second',
    });
    fs.symlinkSync(path.join(seedDir, 'with space.txt'), path.join(seedDir, 'link.txt'));
    const srv = await h.start({ seedDir });
    const entries = await flatAll(srv);
    expect(entries.map((e) => e.path).sort()).toEqual(
      [
        '/RootFolder/Twin.txt',
        '/RootFolder/with space.txt',
        '/RootFolder/Ünïcødé földer',
        '/RootFolder/Ünïcødé földer/naïve café.txt',
        '/RootFolder/日本語.md',
      ].sort(),
    );
    const cafe = entries.find((e) => e.name === 'naïve café.txt')!;
    const dl = await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${cafe.id}`);
    expect(await dl.text()).toBe('x');
  });

  test('restart on the same dataDir keeps list, root and item ids and content; the seed is not imported twice', async () => {
    const seedDir = await h.seed({ 'a/b.txt': 'bee', 'c.txt': 'sea' });
    const dataDir = await h.tempDir();
    const first = await h.start({ dataDir, seedDir });
    const before = await flatAll(first);
    const tokenBefore = (await get(sfs(first, 'RootFolder?Filter=changes&View=SkyDriveSync'))).headers.get(
      'x-synctoken',
    );
    await first.close();
    await fs.promises.writeFile(path.join(seedDir, 'new.txt'), 'not imported');
    const second = await h.start({ dataDir, seedDir });
    expect(second.listId).toBe(first.listId);
    expect(await flatAll(second)).toEqual(before);
    const nc = await get(sfs(second, `RootFolder?Filter=changes&View=SkyDriveSync&SyncToken=${tokenBefore}`));
    expect(nc.headers.get('x-syncstatus')).toBe('NoChanges');
    const b = before.find((e) => e.name === 'b.txt')!;
    expect(await (await get(`${second.siteUrl}/_layouts/15/download.aspx?UniqueId=${b.id}`)).text()).toBe(
      'bee',
    );
  });

  test('the request log gets one JSON line per request, with user, status, bytes and range, never the password', async () => {
    const dir = await h.tempDir();
    const logFile = path.join(dir, 'requests.jsonl');
    const srv = await h.start({ requestLogFile: logFile, seedDir: await h.seed({ 'f.txt': 'hello world' }) });
    const f = (await flatAll(srv))[0]!;
    const part = await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${f.id}`, {
      range: 'bytes=0-4',
    });
    expect(await part.text()).toBe('hello');
    await (
      await fetch(sfs(srv, 'policy/'), { headers: { authorization: basic(USER.name, 'not-the-pw!') } })
    ).text();
    await srv.close();
    const text = await fs.promises.readFile(logFile, 'utf8');
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      method: 'GET',
      status: 200,
      user: 'alice',
      query: 'Filter=changes&View=SkyDriveSync',
    });
    expect(lines[1]).toMatchObject({ status: 206, user: 'alice', bytes: 5, range: 'bytes=0-4' });
    expect(lines[1]!.path).toBe('/personal/alice/_layouts/15/download.aspx');
    expect(lines[2]).toMatchObject({ status: 401, user: null });
    expect(text).not.toContain(USER.password);
    expect(text).not.toContain('not-the-pw!');
  });
});
