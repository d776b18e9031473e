// The server renders the fixture library (deterministic ids, fixed clock) and must match the hand-written golden
// fixtures in test/fixtures/protocol element by element, headers included.
import type { RunningServer } from '../../src/server';
import { Store } from '../../src/server/store';
import { FIXTURE_IDS, fixture, startFixtureServer } from './fixture-library';
import { Harness, get, sfs, libraryDir } from './server-harness';
import { xmlDiff } from './xml-compare';

const SEED_TOKEN = '4;%234;%231;3;be100e28-dd1c-4f2f-8e83-acdb6fffff05;638766798720000000;6;%23;%23;%230;%23';

describe('golden fixtures', () => {
  const h = new Harness();
  let srv: RunningServer;
  let dataDir: string;

  beforeEach(async () => {
    ({ srv, dataDir } = await startFixtureServer(h));
  });
  afterEach(() => h.cleanup());

  async function expectXml(res: Response, name: string): Promise<void> {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('Application/Web3s+xml');
    expect(xmlDiff(await res.text(), fixture(srv, name))).toEqual([]);
  }

  test('E5 root folder with quota = root-folder.xml', async () => {
    const res = await get(sfs(srv, 'RootFolder?View=SkyDriveSync&web3s.expand=QuotaState'));
    expect(res.headers.get('x-quotastate')).toBe('Normal');
    await expectXml(res, 'root-folder.xml');
  });

  test('E6 children page = children-page.xml', async () => {
    const url = sfs(
      srv,
      `Items/${FIXTURE_IDS[2]}?View=SkyDriveSync&Depth=0&FoldersOnly=true&web3s.paging=0,1`,
    );
    const res = await get(url);
    expect(res.headers.get('x-hasmoredata')).toBe('True');
    await expectXml(res, 'children-page.xml');
  });

  test('E7 first FullData page, nested = changes-fulldata-nested.xml', async () => {
    const res = await get(
      sfs(srv, 'RootFolder?Filter=changes&InlineBlobs=false&MaxItemCount=3&View=SkyDriveSync'),
    );
    expect(res.headers.get('x-syncstatus')).toBe('FullData');
    expect(res.headers.get('x-hasmoredata')).toBe('True');
    expect(res.headers.get('x-synctoken')).toBe(
      '4;%234;%231;3;be100e28-dd1c-4f2f-8e83-acdb6fffff05;638766798720000000;6;%23F4;%23;%230;%23',
    );
    await expectXml(res, 'changes-fulldata-nested.xml');
  });

  test('E7 NoChanges on the current token = changes-nochanges.xml', async () => {
    const res = await get(
      sfs(srv, `RootFolder?Filter=changes&MaxItemCount=3&SyncToken=${SEED_TOKEN}&View=SkyDriveSync`),
    );
    expect(res.headers.get('x-syncstatus')).toBe('NoChanges');
    expect(res.headers.get('x-synctoken')).toBe(SEED_TOKEN);
    await expectXml(res, 'changes-nochanges.xml');
  });

  test('E7 flat IncrementalChanges after rename+move and delete = changes-flat-incremental.xml', async () => {
    const store = new Store(libraryDir(dataDir));
    try {
      store.renameOrMove(
        FIXTURE_IDS[5],
        { name: 'hello-v2.txt', parentId: FIXTURE_IDS[3] },
        Date.parse('2025-03-04T10:20:00Z'),
      );
      store.remove(FIXTURE_IDS[6], Date.parse('2025-03-04T10:21:00Z'));
    } finally {
      store.close();
    }
    const url = sfs(
      srv,
      `RootFolder?Filter=changes&InlineBlobs=false&MaxItemCount=500&SyncToken=${SEED_TOKEN}&View=SkyDriveSync`,
    );
    const res = await get(url, { 'X-ResponseStructure': 'Flat' });
    expect(res.headers.get('x-syncstatus')).toBe('IncrementalChanges');
    expect(res.headers.get('x-responsestructure')).toBe('Flat');
    expect(res.headers.get('x-hasmoredata')).toBe('False');
    expect(res.headers.get('x-synctoken')).toBe(
      '4;%234;%231;3;be100e28-dd1c-4f2f-8e83-acdb6fffff05;638766804600000000;8;%23;%23;%230;%23',
    );
    expect(res.headers.get('x-lastprocessedchange')).toBe(
      '1;3;be100e28-dd1c-4f2f-8e83-acdb6fffff05;638766804600000000;8',
    );
    await expectXml(res, 'changes-flat-incremental.xml');
  });

  test('E4 policy = policy.xml, under policy/ and Policy', async () => {
    for (const p of ['policy/', 'Policy']) await expectXml(await get(sfs(srv, p)), 'policy.xml');
  });

  test.each([
    [
      'GetMyProperties',
      '/_api/SP.UserProfiles.PeopleManager/GetMyProperties',
      'get-my-properties.json',
      'origin',
    ],
    ['DefaultDocumentLibrary/ID', '/_api/web/DefaultDocumentLibrary/ID', 'default-library-id.json', 'site'],
    ['Site/Id', '/_api/Site/Id', 'site-id.json', 'site'],
  ])('%s = its JSON fixture', async (_name, rel, file, base) => {
    const res = await get(`${base === 'origin' ? srv.origin : srv.siteUrl}${rel}`, {
      accept: 'application/json;odata=verbose',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json;odata=verbose/);
    expect(await res.json()).toEqual(JSON.parse(fixture(srv, file)));
  });
});
