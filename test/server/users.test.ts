// Users and libraries over real HTTP: personal sites, a shared team site, isolation whatever URL, list id, item id
// or token is sent, the config file rules and adoption of a single-library data dir.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningServer } from '../../src/server';
import { loadConfigFile } from '../../src/server/server-config';
import { Harness, basic } from './server-harness';
import { readPage } from './page-reader';

const ALICE = { name: 'alice', password: 'wonderland' };
const BOB = { name: 'bob', password: 'builder' };
const CAROL = { name: 'carol', password: 'singer' };

function as(
  user: { name: string; password: string },
  url: string,
  init: RequestInit = {},
): Promise<Response> {
  return fetch(url, { ...init, headers: { authorization: basic(user.name, user.password) } });
}

describe('users and libraries', () => {
  const h = new Harness();
  let srv: RunningServer;
  let lib: (site: string) => { url: string; listId: string };
  let aliceIds: string[];

  beforeAll(async () => {
    const seed = await h.seed({ 'secret.txt': 'alice only', 'docs/plan.txt': 'plan' });
    srv = await h.start({
      seedDir: seed,
      users: [ALICE, BOB, CAROL],
      teamSites: [{ name: 'Team', members: ['alice', 'Bob'] }],
    });
    lib = (site) => srv.libraries.find((l) => l.site === site)!;
    const page = await as(
      ALICE,
      `${srv.siteUrl}/_api/SPFileSync/sync/${srv.listId}/RootFolder?Filter=changes`,
    );
    aliceIds = readPage(await page.text()).entries.map((e) => e.id);
  });
  afterAll(() => h.cleanup());

  test('every user and team site has its own library; a team site serves the same library to each member', async () => {
    const ids = new Set(srv.libraries.map((l) => l.listId));
    expect(srv.libraries.map((l) => l.site)).toEqual([
      'personal/alice',
      'personal/bob',
      'personal/carol',
      'sites/Team',
    ]);
    expect(ids.size).toBe(4);
    for (const u of [ALICE, BOB]) {
      const res = await as(u, `${srv.origin}/sites/team/_api/web/DefaultDocumentLibrary/ID`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { d: { Id: string } }).d.Id.replace(/-/g, '')).toBe(
        lib('sites/Team').listId,
      );
    }
    // E1 answers each caller with their own personal site, whatever site path it is asked under.
    const me = await as(CAROL, `${srv.origin}/sites/team/_api/SP.UserProfiles.PeopleManager/GetMyProperties`);
    expect(me.status).toBe(403);
    const mine = await as(CAROL, `${srv.origin}/_api/SP.UserProfiles.PeopleManager/GetMyProperties`);
    expect(((await mine.json()) as { d: { PersonalUrl: string } }).d.PersonalUrl).toBe(
      `${srv.origin}/personal/carol/`,
    );
  });

  test('403 with the SharePoint error body for another user’s site, whatever the path', async () => {
    const alice = lib('personal/alice');
    const urls = [
      `${alice.url}/_api/web/DefaultDocumentLibrary/ID`,
      `${alice.url}/_api/Site/Id`,
      `${alice.url}/_api/SPFileSync/sync/${alice.listId}/policy/`,
      `${alice.url}/_api/SPFileSync/sync/${alice.listId}/RootFolder?Filter=changes`,
      `${alice.url}/_api/SPFileSync/sync/${alice.listId}/Items/${aliceIds[0]}`,
      `${alice.url}/_layouts/15/download.aspx?UniqueId=${aliceIds[0]}`,
      `${srv.origin}/PERSONAL/ALICE/_api/Site/Id`,
      `${srv.origin}/sites/team/_api/Site/Id`,
    ];
    for (const url of urls) {
      const res = await as(CAROL, url);
      expect([url, res.status]).toEqual([url, 403]);
      const body = await res.text();
      expect(body).toContain('System.UnauthorizedAccessException');
      expect(body).not.toContain('alice only');
    }
  });

  test('another library’s list id under one’s own site is 403; its item ids and tokens find nothing', async () => {
    const alice = lib('personal/alice');
    const carol = lib('personal/carol');
    const own = `${carol.url}/_api/SPFileSync/sync`;
    expect((await as(CAROL, `${own}/${alice.listId}/RootFolder?Filter=changes`)).status).toBe(403);
    expect((await as(CAROL, `${own}/{${alice.listId}}/Items/${aliceIds[0]}`)).status).toBe(403);
    for (const id of aliceIds) {
      expect((await as(CAROL, `${own}/${carol.listId}/Items/${id}`)).status).toBe(404);
      expect((await as(CAROL, `${carol.url}/_layouts/15/download.aspx?UniqueId=${id}`)).status).toBe(404);
    }
    // alice's sync token on carol's list: another list's token, so only a fresh token (and no items).
    const first = await as(
      ALICE,
      `${alice.url}/_api/SPFileSync/sync/${alice.listId}/RootFolder?Filter=changes`,
    );
    const token = first.headers.get('x-synctoken')!;
    const res = await as(CAROL, `${own}/${carol.listId}/RootFolder?Filter=changes&SyncToken=${token}`);
    expect(res.headers.get('x-syncstatus')).toBe('CurrentSyncTokenOnly');
    expect(await res.text()).not.toContain('secret.txt');
    // A member reaches the team library by its list id under the team site only.
    const team = lib('sites/Team');
    expect((await as(BOB, `${team.url}/_api/SPFileSync/sync/${team.listId}/policy/`)).status).toBe(200);
    expect(
      (await as(BOB, `${lib('personal/bob').url}/_api/SPFileSync/sync/${team.listId}/policy/`)).status,
    ).toBe(404);
  });

  test('a config file readable by others is refused with a message naming the fix; a private one loads', async () => {
    const dir = await h.tempDir();
    const file = path.join(dir, 'serve.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ users: [ALICE], teamSites: [{ name: 't', members: ['alice'] }] }),
    );
    fs.chmodSync(file, 0o644);
    expect(() => loadConfigFile(file)).toThrow(/readable by other users.*chmod 600/);
    fs.chmodSync(file, 0o600);
    expect(loadConfigFile(file).teamSites?.[0]?.members).toEqual(['alice']);
    fs.writeFileSync(
      file,
      JSON.stringify({ users: [ALICE], teamSites: [{ name: 't', members: ['mallory'] }] }),
    );
    expect(() => loadConfigFile(file)).toThrow(/member mallory is not a configured user/);
  });

  test('a data dir of the single-library layout becomes the first user’s library, ids kept', async () => {
    const dataDir = await h.tempDir('spfs-data-');
    const first = await h.start({ dataDir, seedDir: await h.seed({ 'a.txt': 'a' }), users: [ALICE] });
    const listId = first.listId;
    await first.close();
    const libDir = path.join(dataDir, 'libraries', 'personal-alice');
    for (const f of fs.readdirSync(libDir)) fs.renameSync(path.join(libDir, f), path.join(dataDir, f));
    fs.rmSync(path.join(dataDir, 'libraries'), { recursive: true });
    fs.rmSync(path.join(dataDir, 'libraries.json'));
    const again = await h.start({ dataDir, users: [ALICE, BOB] });
    expect(again.listId).toBe(listId);
    expect(fs.existsSync(path.join(libDir, 'spfs-server.sqlite'))).toBe(true);
  });
});
