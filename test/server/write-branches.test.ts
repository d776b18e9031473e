// Write branches over real HTTP not covered elsewhere: BITS sessions of another user (refused), 423 on DELETE of a
// locked item, 507 on a BITS fragment beyond the quota, and WriteMode CreateOrUpdate (create, update, stale ETag).
import type { RunningServer } from '../../src/server';
import { Store } from '../../src/server/store';
import { QuickXorHash } from '../../src/shared/quickxorhash';
import { readPage } from './page-reader';
import { Harness, USER, basic, libraryDir } from './server-harness';
import { createDocXml, multipartBody } from './write-client';

const BOB = { name: 'bob', password: 'builder-pw' };
const PROTOCOL = '{7df0354d-249b-430f-820d-3d2a9bef4931}';

describe('write branches', () => {
  const h = new Harness();
  let srv: RunningServer;
  let dataDir: string;
  afterEach(() => h.cleanup());

  /** A client of one library as one user. */
  function client(site: string, user: { name: string; password: string }) {
    const lib = srv.libraries.find((l) => l.site === site)!;
    const sfs = `${lib.url}/_api/SPFileSync/sync/${lib.listId}`;
    const auth = basic(user.name, user.password);
    let digest = '';
    const headers = async (extra: Record<string, string> = {}): Promise<Record<string, string>> => {
      if (digest === '') {
        const r = await fetch(`${lib.url}/_api/contextinfo`, {
          method: 'POST',
          headers: { authorization: auth },
        });
        digest = ((await r.json()) as { d: { GetContextWebInformation: { FormDigestValue: string } } }).d
          .GetContextWebInformation.FormDigestValue;
      }
      return { authorization: auth, 'x-requestdigest': digest, ...extra };
    };
    return {
      get: async (rest: string) => fetch(`${sfs}/${rest}`, { headers: { authorization: auth } }),
      bits: async (type: string, extra: Record<string, string> = {}, body?: Buffer) =>
        fetch(`${sfs}/RootFolder`, {
          method: 'POST',
          headers: await headers({
            'x-http-method-override': 'BITS_POST',
            'bits-packet-type': type,
            ...extra,
          }),
          ...(body !== undefined ? { body } : {}),
        }),
      write: async (xml: string, parts: { id: string; bytes: Buffer }[] = []) => {
        const { body, contentType } = multipartBody(xml, parts);
        const r = await fetch(`${sfs}/RootFolder`, {
          method: 'POST',
          headers: await headers({ 'content-type': contentType }),
          body,
        });
        return r.text();
      },
      del: async (id: string, ifMatch: string) =>
        fetch(`${sfs}/Items/${id}`, { method: 'DELETE', headers: await headers({ 'if-match': ifMatch }) }),
    };
  }
  type Client = ReturnType<typeof client>;

  async function listing(c: Client) {
    const xml = await (await c.get('RootFolder?Filter=changes')).text();
    const rootId = /<ResourceID>([0-9a-f]{32})</.exec(xml)?.[1] ?? '';
    const etags = new Map(
      [...xml.matchAll(/<ResourceID>(\w+)<\/ResourceID><ETag>([^<]*)<\/ETag>/g)].map((m) => [
        m[1],
        (m[2] ?? '').replace(/&quot;/g, '"'),
      ]),
    );
    return { rootId, entries: readPage(xml).entries, etags };
  }

  const statuses = (xml: string): string[] =>
    [...xml.matchAll(/<WriteStatus>(\w+)</g)].map((m) => m[1] ?? '');

  async function session(c: Client): Promise<string> {
    const r = await c.bits('Create-Session', { 'BITS-Supported-Protocols': PROTOCOL });
    return r.headers.get('bits-session-id') ?? '';
  }

  test("another user's BITS session is refused: fragments, close and commit by FragmentSessionId", async () => {
    srv = await h.start({ users: [USER, BOB], teamSites: [{ name: 'team', members: ['alice', 'bob'] }] });
    const alice = client('sites/team', USER);
    const bob = client('sites/team', BOB);
    const bytes = Buffer.from('0123456789');
    const id = await session(alice);
    const frag = { 'BITS-Session-Id': id, 'Content-Range': 'bytes 0-9/10' };
    const stolen = await bob.bits('Fragment', frag, bytes);
    expect(stolen.status).toBe(404);
    expect(stolen.headers.get('bits-error-code')).toBe('0x8020001F');
    expect((await bob.bits('Close-Session', { 'BITS-Session-Id': id })).status).toBe(404);
    expect((await alice.bits('Fragment', frag, bytes)).headers.get('bits-received-content-range')).toBe('10');
    const { rootId } = await listing(alice);
    const hash = new QuickXorHash().update(bytes).digest();
    const doc = createDocXml(rootId, 'x.bin', id.replace(/[{}]/g, ''), 10, hash);
    expect(statuses(await bob.write(`<Items>${doc}</Items>`))).toEqual(['Failure']); // no such session for bob
    expect((await listing(bob)).entries).toEqual([]);
    expect(statuses(await alice.write(`<Items>${doc}</Items>`))).toEqual(['Success']); // still alice's
  });

  test('DELETE Items/{R} of a locked item is 423 and the item stays; unlocked, it goes', async () => {
    dataDir = await h.tempDir();
    srv = await h.start({ dataDir, seedDir: await h.seed({ 'a.txt': 'aaa' }) });
    const alice = client(`personal/${USER.name}`, USER);
    const { entries, etags } = await listing(alice);
    const a = entries[0]!;
    const side = new Store(libraryDir(dataDir));
    side.setLock(a.id, 'someone');
    const locked = await alice.del(a.id, etags.get(a.id)!);
    expect(locked.status).toBe(423);
    expect(await locked.text()).toContain('<m:message');
    expect((await listing(alice)).entries.map((e) => e.name)).toEqual(['a.txt']);
    side.setLock(a.id, null);
    side.close();
    expect((await alice.del(a.id, etags.get(a.id)!)).status).toBe(204);
  });

  test('a BITS fragment whose total exceeds the free quota is 507 with X-QuotaState', async () => {
    srv = await h.start({ spaceGrantedBytes: 64, seedDir: await h.seed({ 'a.txt': 'x'.repeat(60) }) });
    const alice = client(`personal/${USER.name}`, USER);
    const id = await session(alice);
    const over = await alice.bits(
      'Fragment',
      { 'BITS-Session-Id': id, 'Content-Range': 'bytes 0-9/50' },
      Buffer.alloc(10),
    );
    expect(over.status).toBe(507);
    expect(over.headers.get('x-quotastate')).toBe('Nearing');
    const fits = await alice.bits(
      'Fragment',
      { 'BITS-Session-Id': id, 'Content-Range': 'bytes 0-3/4' },
      Buffer.alloc(4),
    );
    expect(fits.status).toBe(200);
  });

  test('WriteMode CreateOrUpdate creates when absent, updates with the current ETag, Conflict when stale', async () => {
    srv = await h.start({ seedDir: await h.seed({ 'a.txt': 'aaa' }) });
    const alice = client(`personal/${USER.name}`, USER);
    const { rootId, entries, etags } = await listing(alice);
    const a = entries[0]!;
    const stream = (frag: string, bytes: Buffer) =>
      `<DocumentStreams><DocumentStream><DocumentStreamName>Default</DocumentStreamName>` +
      `<XORHash>${new QuickXorHash().update(bytes).digest()}</XORHash><FragmentSessionId>${frag}</FragmentSessionId>` +
      `<DataSize>${bytes.length}</DataSize></DocumentStream></DocumentStreams>`;
    const v2 = Buffer.from('version two');
    const update =
      `<Document><ResourceID>${a.id}</ResourceID><ETag>${etags.get(a.id)}</ETag><WriteMode>CreateOrUpdate</WriteMode>` +
      `${stream('u', v2)}</Document>`;
    const fresh = Buffer.from('brand new');
    const create =
      `<Document><ParentResourceID>${rootId}</ParentResourceID><WriteMode>CreateOrUpdate</WriteMode>` +
      `<RelationshipName>new.txt</RelationshipName>${stream('c', fresh)}</Document>`;
    const out = await alice.write(`<Items>${update}${create}</Items>`, [
      { id: 'u', bytes: v2 },
      { id: 'c', bytes: fresh },
    ]);
    expect(statuses(out)).toEqual(['Success', 'Success']);
    const after = await listing(alice);
    expect(after.entries.map((e) => e.name).sort()).toEqual(['a.txt', 'new.txt']);
    expect(after.entries.find((e) => e.name === 'a.txt')?.id).toBe(a.id); // updated in place
    expect(after.etags.get(a.id)).toMatch(/,2"$/);
    const dl = await fetch(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${a.id}`, {
      headers: { authorization: basic() },
    });
    expect(await dl.text()).toBe('version two');
    const stale = await alice.write(`<Items>${update.replace(stream('u', v2), stream('s', v2))}</Items>`, [
      { id: 's', bytes: v2 },
    ]);
    expect(statuses(stale)).toEqual(['Conflict']);
  });
});
