// E8 writes and E13 form digests over real HTTP: golden responses, every WriteStatus, the 403 digest dance,
// ETags on every write, ModifierIdentity, DELETE Items/{R} with If-Match, and what reaches the change log.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningServer } from '../../src/server';
import { Store } from '../../src/server/store';
import { FIXTURE_IDS, fixture, startFixtureServer } from './fixture-library';
import { Harness, TestClock, basic, get, libraryDir, sfs } from './server-harness';
import { createDocXml, digestFor, postWrite } from './write-client';
import { xmlDiff } from './xml-compare';

const [, , ROOT, ARCHIVE, DOCS, HELLO, OLD, README] = FIXTURE_IDS as unknown as [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string,
];
const HELLO_HASH = 'aCgDG9jwBhDc4Q1yawMZAAAAAAA=';
const FIXTURE_NEW_ID = '68c71b7f4be8414b9752266ef4d715b3';
const IDENTITY = 'SkyDriveSync=0b4e6a2c-1d3f-4e5a-9b8c-7d6e5f4a3b2c';

function etag(id: string, v: number): string {
  const d = `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
  return `"{${d.toUpperCase()}},${v}"`;
}

function xmlEtag(id: string, v: number): string {
  return etag(id, v).replace(/"/g, '&quot;');
}

/** Rewrites a generated ResourceID (all three spellings) to the fixture's. */
function withFixtureId(xml: string, actual: string, fixtureId: string): string {
  const dashed = (h: string): string =>
    `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return xml
    .split(actual)
    .join(fixtureId)
    .split(dashed(actual).toUpperCase())
    .join(dashed(fixtureId).toUpperCase())
    .split(dashed(actual).replace(/-/g, '%2D'))
    .join(dashed(fixtureId).replace(/-/g, '%2D'));
}

/** The digest with its first hex digit changed, always to a different one (a fixed '0' was no change 1 run in 16). */
function tamperedDigest(d: string): string {
  return `0x${d[2] === '0' ? '1' : '0'}${d.slice(3)}`;
}

describe('E8 writes and E13 digests', () => {
  const h = new Harness();
  let srv: RunningServer;
  let dataDir: string;
  let digest: string;
  const fixtureOf = (name: string): string => fixture(srv, name);

  beforeEach(async () => {
    ({ srv, dataDir } = await startFixtureServer(h));
    digest = await digestFor(srv);
  });
  afterEach(() => h.cleanup());

  test('E13 contextinfo = contextinfo.json (digest bound to the user, 30 min)', async () => {
    const res = await fetch(`${srv.siteUrl}/_api/contextinfo`, {
      method: 'POST',
      headers: { authorization: basic() },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { d: { GetContextWebInformation: Record<string, unknown> } };
    const want = JSON.parse(fixtureOf('contextinfo.json')) as typeof body;
    const info = body.d.GetContextWebInformation;
    expect(info.FormDigestValue).toMatch(/^0x[0-9A-F]{64},Tue, 04 Mar 2025 10:11:12 GMT$/);
    expect({ ...info, FormDigestValue: '' }).toEqual({
      ...want.d.GetContextWebInformation,
      FormDigestValue: '',
    });
    const unauth = await fetch(`${srv.siteUrl}/_api/contextinfo`, { method: 'POST' });
    expect(unauth.status).toBe(401);
  });

  test('a write without a valid digest gets 403 + X-RequestDigest; the retry with it succeeds', async () => {
    const xml = `<Items><Folder><ParentResourceID>${ROOT}</ParentResourceID><WriteMode>Create</WriteMode><RelationshipName>New</RelationshipName></Folder></Items>`;
    for (const bad of [undefined, '0xABC,Tue, 04 Mar 2025 10:11:12 GMT', tamperedDigest(digest)]) {
      const res = await postWrite(srv, bad, xml);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('<m:error');
      const fresh = res.headers.get('x-requestdigest');
      expect(fresh).toMatch(/^0x[0-9A-F]{64},/);
      const retry = await postWrite(srv, fresh ?? '', xml);
      expect(retry.status).toBe(200);
      expect(await retry.text()).toMatch(/<WriteStatus>(Success|NameConflict)<\/WriteStatus>/);
    }
  });

  test('inline create = write-create-response.xml; X-CustomIdentity comes back as ModifierIdentity in E7 too', async () => {
    const xml =
      `<Items><Document><ParentResourceID>${DOCS}</ParentResourceID><WriteMode>Create</WriteMode>` +
      `<RelationshipName>new.txt</RelationshipName><DateCreatedOnClient>2025-03-04T10:00:00.0000000Z</DateCreatedOnClient>` +
      `<DateModifiedOnClient>2025-03-04T10:05:00.0000000Z</DateModifiedOnClient><DocumentStreams><DocumentStream>` +
      `<DocumentStreamName>Default</DocumentStreamName><MimeType>text/plain</MimeType><XORHash>${HELLO_HASH}</XORHash>` +
      `<FragmentSessionId>2c8d0e1f-aaaa-4bbb-8ccc-123456789abc</FragmentSessionId><DataSize>11</DataSize>` +
      `</DocumentStream></DocumentStreams></Document></Items>`;
    const res = await postWrite(
      srv,
      digest,
      xml,
      [{ id: '2c8d0e1f-aaaa-4bbb-8ccc-123456789abc', bytes: 'hello world' }],
      {
        'X-CustomIdentity': IDENTITY,
      },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('Application/Web3s+xml');
    const text = await res.text();
    const newId = /<ResourceID>([0-9a-f]{32})<\/ResourceID>/.exec(text)?.[1] ?? '';
    expect(
      xmlDiff(withFixtureId(text, newId, FIXTURE_NEW_ID), fixtureOf('write-create-response.xml')),
    ).toEqual([]);
    const dl = await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${newId}`);
    expect(await dl.text()).toBe('hello world');
    const changes = await (await get(sfs(srv, 'RootFolder?Filter=changes&View=SkyDriveSync'))).text();
    expect(changes).toContain(`<Value>0b4e6a2c-1d3f-4e5a-9b8c-7d6e5f4a3b2c</Value>`);
  });

  test('a batch answers in request order with each WriteStatus = write-batch-statuses.xml', async () => {
    const items =
      `<Document><ResourceID>${HELLO}</ResourceID><ETag>${etag(HELLO, 7)}</ETag><WriteMode>Update</WriteMode>` +
      `<DocumentStreams><DocumentStream><FragmentSessionId>p1</FragmentSessionId><DataSize>3</DataSize></DocumentStream></DocumentStreams></Document>` +
      `<Folder><ParentResourceID>${ROOT}</ParentResourceID><WriteMode>Create</WriteMode><RelationshipName>docs</RelationshipName></Folder>` +
      `<Document><ResourceID>00000000000000000000000000000bad</ResourceID><ETag>${etag('00000000000000000000000000000bad', 1)}</ETag><WriteMode>Delete</WriteMode></Document>` +
      `<Folder><ParentResourceID>${ROOT}</ParentResourceID><WriteMode>Create</WriteMode><RelationshipName>a:b</RelationshipName></Folder>` +
      `<Folder><ResourceID>${ROOT}</ResourceID><ETag>${ROOT}</ETag><WriteMode>Delete</WriteMode></Folder>` +
      createDocXml(DOCS, 'liar.txt', 'p2', 5, HELLO_HASH) +
      `<Document><ResourceID>${README}</ResourceID><ETag>${etag(README, 1)}</ETag><WriteMode>Update</WriteMode><RelationshipName>README-2.md</RelationshipName></Document>`;
    const res = await postWrite(srv, digest, `<Items>${items}</Items>`, [
      { id: 'p1', bytes: 'new' },
      { id: 'p2', bytes: 'hello world' },
    ]);
    expect(res.status).toBe(200);
    expect(xmlDiff(await res.text(), fixtureOf('write-batch-statuses.xml'))).toEqual([]);
    const hello = await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${HELLO}`);
    expect(await hello.text()).toBe('hello world'); // the conflicting update changed nothing
    const tmp = path.join(libraryDir(dataDir), 'tmp');
    expect(fs.existsSync(tmp) ? fs.readdirSync(tmp) : []).toEqual([]); // unused and refused parts are gone
  });

  test('update with the current ETag, folder create, move, metadata-only touch, delete: ETag +1 each time', async () => {
    const up = await postWrite(
      srv,
      digest,
      `<Items><Document><ResourceID>${HELLO}</ResourceID><ETag>${etag(HELLO, 1)}</ETag><WriteMode>Update</WriteMode>` +
        `<DocumentStreams><DocumentStream><FragmentSessionId>x</FragmentSessionId><DataSize>3</DataSize></DocumentStream></DocumentStreams></Document>` +
        `<Folder><ParentResourceID>${ARCHIVE}</ParentResourceID><WriteMode>Create</WriteMode><RelationshipName>Sub</RelationshipName></Folder></Items>`,
      [{ id: 'x', bytes: 'v2!' }],
    );
    const text = await up.text();
    expect(text).toContain(`<ETag>${xmlEtag(HELLO, 2)}</ETag>`);
    expect(text.match(/<WriteStatus>Success<\/WriteStatus>/g)).toHaveLength(2);
    const sub =
      /<ResourceID>([0-9a-f]{32})<\/ResourceID><ETag>\1<\/ETag>[^]*?<RelationshipName>Sub</.exec(text)?.[1] ??
      '';
    const move = await postWrite(
      srv,
      digest,
      `<Items><Document><ResourceID>${HELLO}</ResourceID><ETag>${etag(HELLO, 2)}</ETag><WriteMode>Update</WriteMode>` +
        `<ParentResourceID>${sub}</ParentResourceID><RelationshipName>moved.txt</RelationshipName></Document>` +
        `<Document><ResourceID>${OLD}</ResourceID><ETag>${etag(OLD, 1)}</ETag><WriteMode>Update</WriteMode>` +
        `<DateModifiedOnClient>2020-01-02T03:04:05.0000000Z</DateModifiedOnClient></Document></Items>`,
    );
    const moved = await move.text();
    expect(moved).toContain('<Path>/RootFolder/Archive/Sub/moved.txt</Path>');
    expect(moved).toContain(`<ETag>${xmlEtag(HELLO, 3)}</ETag>`);
    expect(moved).toContain(
      `<ETag>${xmlEtag(OLD, 2)}</ETag><DateCreated>2025-03-04T10:11:12.0000000Z</DateCreated><DateModified>2020-01-02T03:04:05.0000000Z</DateModified>`,
    );
    const del = await postWrite(
      srv,
      digest,
      `<Items><Folder><ResourceID>${ARCHIVE}</ResourceID><ETag>${ARCHIVE}</ETag><WriteMode>Delete</WriteMode></Folder></Items>`,
    );
    expect(await del.text()).toContain('<IsDeleted>True</IsDeleted>');
    expect((await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${HELLO}`)).status).toBe(404);
  });

  test('Locked and QuotaExceeded per item', async () => {
    await srv.close();
    const store = new Store(libraryDir(dataDir));
    store.setLock(OLD, 'tester');
    store.close();
    srv = await h.start({ dataDir, clock: new TestClock(), spaceGrantedBytes: 30 });
    digest = await digestFor(srv);
    const res = await postWrite(
      srv,
      digest,
      `<Items><Document><ResourceID>${OLD}</ResourceID><ETag>${etag(OLD, 1)}</ETag><WriteMode>Delete</WriteMode></Document>` +
        createDocXml(DOCS, 'big.bin', 'b', 20, 'ignored') +
        `</Items>`,
      [{ id: 'b', bytes: Buffer.alloc(20) }],
    );
    const text = await res.text();
    expect([...text.matchAll(/<WriteStatus>(\w+)</g)].map((m) => m[1])).toEqual(['Locked', 'Failure']);
    const quota = await postWrite(
      srv,
      digest,
      `<Items>${createDocXml(DOCS, 'big.bin', 'b', 20, 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=')}</Items>`.replace(
        '<XORHash>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</XORHash>',
        '',
      ),
      [{ id: 'b', bytes: Buffer.alloc(20) }],
    );
    expect(await quota.text()).toContain('<WriteStatus>QuotaExceeded</WriteStatus>');
  });

  test('DELETE Items/{R}: 403 without a digest, 412 on a stale If-Match, 204, then 404; 403 for the root', async () => {
    const del = (id: string, ifMatch: string, d: string | null = digest) =>
      fetch(sfs(srv, `Items/${id}`), {
        method: 'DELETE',
        headers: { authorization: basic(), 'if-match': ifMatch, ...(d ? { 'x-requestdigest': d } : {}) },
      });
    expect((await del(HELLO, etag(HELLO, 1), null)).status).toBe(403);
    const stale = await del(HELLO, etag(HELLO, 9));
    expect(stale.status).toBe(412);
    expect(await stale.text()).toContain('<m:error');
    expect((await del(HELLO, etag(HELLO, 1))).status).toBe(204);
    expect((await del(HELLO, etag(HELLO, 1))).status).toBe(404);
    expect((await del(ROOT, ROOT)).status).toBe(403);
  });
});
