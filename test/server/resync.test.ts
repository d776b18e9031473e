// E7 token validation beyond malformed tokens: ResyncNeeded (+ ResyncAction/X-ResyncAction, no token) for a token
// from before a restore (restore generation bumped, a data dir restored from a backup) or older than the change-log
// retention; incremental changes for every write kind, one entry per item, latest state wins.
import * as fs from 'node:fs';
import type { RunningServer } from '../../src/server';
import { Store } from '../../src/server/store';
import { Harness, TestClock, get, libraryDir, sfs } from './server-harness';
import { readPage } from './page-reader';
import { digestFor, postWrite } from './write-client';

const DAY_MS = 24 * 3600 * 1000;

describe('E7 ResyncNeeded and change coverage', () => {
  const h = new Harness();
  let srv: RunningServer;
  let clock: TestClock;
  let dataDir: string;
  let rootId: string;

  beforeEach(async () => {
    clock = new TestClock();
    dataDir = await h.tempDir();
    srv = await h.start({ dataDir, clock, seedDir: await h.seed({ 'a.txt': 'a', 'Docs/b.txt': 'b' }) });
    rootId = /<ResourceID>([0-9a-f]{32})</.exec(await (await get(sfs(srv, 'RootFolder'))).text())?.[1] ?? '';
  });
  afterEach(() => h.cleanup());

  async function e7(token?: string, flat = false) {
    const q = `RootFolder?Filter=changes&MaxItemCount=1000&View=SkyDriveSync${token ? `&SyncToken=${token}` : ''}`;
    const res = await get(sfs(srv, q), flat ? { 'X-ResponseStructure': 'Flat' } : {});
    return {
      status: res.headers.get('x-syncstatus'),
      token: res.headers.get('x-synctoken'),
      action: [res.headers.get('resyncaction'), res.headers.get('x-resyncaction')],
      entries: readPage(await res.text()).entries,
    };
  }

  async function mkdir(name: string): Promise<void> {
    const xml = `<Items><Folder><ParentResourceID>${rootId}</ParentResourceID><WriteMode>Create</WriteMode><RelationshipName>${name}</RelationshipName></Folder></Items>`;
    expect(await (await postWrite(srv, await digestFor(srv), xml)).text()).toContain('Success');
  }

  const expectResync = (p: Awaited<ReturnType<typeof e7>>): void => {
    expect(p.status).toBe('ResyncNeeded');
    expect(p.action).toEqual(['ResetReupload', 'ResetReupload']);
    expect(p.token).toBeNull();
    expect(p.entries).toEqual([]);
  };

  test('every write kind reaches the next incremental pass once, latest state winning', async () => {
    const t0 = (await e7()).token ?? '';
    const d = await digestFor(srv);
    const full = (await e7()).entries;
    const a = full.find((e) => e.name === 'a.txt')!;
    const b = full.find((e) => e.name === 'b.txt')!;
    await mkdir('New');
    const etag = (id: string, v: number): string =>
      `"{${id.replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-').toUpperCase()}},${v}"`;
    const r1 = await postWrite(
      srv,
      d,
      `<Items><Document><ResourceID>${a.id}</ResourceID><ETag>${etag(a.id, 1)}</ETag><WriteMode>Update</WriteMode><RelationshipName>a2.txt</RelationshipName></Document>` +
        `<Document><ResourceID>${a.id}</ResourceID><ETag>${etag(a.id, 2)}</ETag><WriteMode>Update</WriteMode>` +
        `<DocumentStreams><DocumentStream><FragmentSessionId>c</FragmentSessionId></DocumentStream></DocumentStreams></Document>` +
        `<Document><ResourceID>${b.id}</ResourceID><ETag>${etag(b.id, 1)}</ETag><WriteMode>Delete</WriteMode></Document></Items>`,
      [{ id: 'c', bytes: 'new content' }],
    );
    expect([...(await r1.text()).matchAll(/<WriteStatus>(\w+)</g)].map((m) => m[1])).toEqual([
      'Success',
      'Success',
      'Success',
    ]);
    const inc = await e7(t0, true);
    expect(inc.status).toBe('IncrementalChanges');
    const byId = new Map(inc.entries.map((e) => [e.id, e]));
    expect(inc.entries.filter((e) => e.id === a.id)).toHaveLength(1);
    expect(byId.get(a.id)).toMatchObject({ name: 'a2.txt', deleted: false });
    expect(byId.get(b.id)?.deleted).toBe(true);
    expect(inc.entries.some((e) => e.name === 'New' && e.kind === 'Folder')).toBe(true);
  });

  test('a position the log never reached (data dir restored from a backup) gets ResyncNeeded', async () => {
    const backup = await h.tempDir();
    await srv.close();
    fs.cpSync(dataDir, backup, { recursive: true });
    srv = await h.start({ dataDir, clock });
    await mkdir('after-backup');
    const later = (await e7()).token ?? '';
    await srv.close();
    fs.rmSync(dataDir, { recursive: true });
    fs.cpSync(backup, dataDir, { recursive: true });
    srv = await h.start({ dataDir, clock });
    expectResync(await e7(later));
    // History diverged: the restored library reaches the same seq with other changes (another time).
    clock.ms += 5000;
    await mkdir('different');
    expectResync(await e7(later));
  });

  test('a restore generation bump (admin restore) invalidates older tokens; new ones work', async () => {
    const before = (await e7()).token ?? '';
    await srv.close();
    const store = new Store(libraryDir(dataDir));
    store.bumpGeneration();
    store.close();
    srv = await h.start({ dataDir, clock });
    expectResync(await e7(before));
    const fresh = await e7();
    expect(fresh.token).toMatch(/%23G1;%23$/);
    expect((await e7(fresh.token ?? '')).status).toBe('NoChanges');
  });

  test('a token older than the retained change log gets ResyncNeeded; a token after the pruned part still works', async () => {
    const t0 = (await e7()).token ?? '';
    clock.ms += DAY_MS;
    await mkdir('day1');
    const t1 = (await e7(t0)).token ?? '';
    clock.ms += 69 * DAY_MS;
    await mkdir('day70');
    expectResync(await e7(t0));
    const p = await e7(t1);
    expect(p.status).toBe('IncrementalChanges');
    expect(p.entries.map((e) => e.name)).toEqual(['day70']);
  });
});
