// Server settings over real HTTP: policy numbers and BlockedFileExtensions, SpaceGranted, MaxFileSize (E8 and BITS),
// ItemCount as the default page size, retention with a configured ResyncAction, BITS idle expiry, markRestored and
// the admin `restored` call; validation of settings from code and from a --config file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningServer, ServerSettings } from '../../src/server';
import { checkSettings } from '../../src/server/data-plane-settings';
import { loadConfigFile } from '../../src/server/server-config';
import { InvalidInputError } from '../../src/shared/errors';
import { QuickXorHash } from '../../src/shared/quickxorhash';
import { readPage } from './page-reader';
import { Harness, TestClock, get, sfs } from './server-harness';
import { bitsPacket, createDocXml, digestFor, postWrite } from './write-client';

const DAY_MS = 24 * 3600 * 1000;
const TOKEN = 'admin-token-for-settings-test-0123';
const SETTINGS: Partial<ServerSettings> = {
  spaceGrantedBytes: 4096,
  maxFileSizeBytes: 1000,
  inlineUploadThresholdBytes: 300,
  itemCount: 2,
  blockedFileExtensions: ['.exe', '.pst'],
  changeLogRetentionMs: 10 * DAY_MS,
  uploadSessionIdleMs: 60_000,
  resyncAction: 'Reupload',
};

describe('server settings', () => {
  const h = new Harness();
  let srv: RunningServer;
  let clock: TestClock;
  let rootId: string;
  let dataDir: string;
  afterEach(() => h.cleanup());

  async function start(extra: Parameters<Harness['start']>[0] = {}): Promise<void> {
    clock = new TestClock();
    dataDir = await h.tempDir();
    srv = await h.start({
      dataDir,
      clock,
      settings: SETTINGS,
      adminToken: TOKEN,
      seedDir: await h.seed({ 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' }),
      ...extra,
    });
    rootId = /<ResourceID>([0-9a-f]{32})</.exec(await (await get(sfs(srv, 'RootFolder'))).text())?.[1] ?? '';
  }

  async function e7(token?: string) {
    const res = await get(sfs(srv, `RootFolder?Filter=changes${token ? `&SyncToken=${token}` : ''}`));
    return {
      status: res.headers.get('x-syncstatus'),
      token: res.headers.get('x-synctoken'),
      action: res.headers.get('x-resyncaction'),
      entries: readPage(await res.text()).entries,
    };
  }

  async function upload(name: string, bytes: Buffer): Promise<string> {
    const hash = new QuickXorHash().update(bytes).digest();
    const res = await postWrite(
      srv,
      await digestFor(srv),
      `<Items>${createDocXml(rootId, name, 'p', bytes.length, hash)}</Items>`,
      [{ id: 'p', bytes }],
    );
    return /<WriteStatus>(\w+)</.exec(await res.text())?.[1] ?? `HTTP ${res.status}`;
  }

  test('policy document and quota carry the settings; writes obey them', async () => {
    await start();
    const policy = await (await get(sfs(srv, 'policy/'))).text();
    for (const [rule, value] of [
      ['ItemCount', '2'],
      ['InlineUploadThreshold', '300'],
      ['MaxFileSize', '1000'],
      ['BlockedFileExtensions', '.exe;.pst'],
    ])
      expect(policy).toContain(`<Rule name="${rule}" value="${value}"/>`);
    const root = await (await get(sfs(srv, 'RootFolder?web3s.expand=QuotaState'))).text();
    expect(root).toContain('<SpaceGranted>4096</SpaceGranted>');

    expect(await upload('Setup.EXE', Buffer.from('MZ'))).toBe('InvalidName');
    expect(await upload('mail.pst', Buffer.from('x'))).toBe('InvalidName');
    expect(await upload('fine.txt', Buffer.alloc(900, 1))).toBe('Success');
    expect(await upload('too-big.bin', Buffer.alloc(1001, 1))).toBe('HTTP 413'); // whole request: the part is never staged
    // BITS refuses a declared total above MaxFileSize at the first fragment.
    const digest = await digestFor(srv);
    const created = await bitsPacket(srv, digest, 'Create-Session', {
      'BITS-Supported-Protocols': '{7df0354d-249b-430f-820d-3d2a9bef4931}',
    });
    const session = created.headers.get('bits-session-id') ?? '';
    const frag = await bitsPacket(
      srv,
      digest,
      'Fragment',
      { 'BITS-Session-Id': session, 'Content-Range': 'bytes 0-9/2000' },
      Buffer.alloc(10),
    );
    expect(frag.status).toBe(413);
    // SpaceGranted 4096: 3 seeded bytes + 900 used, 4 × 900 more do not fit.
    for (const n of [1, 2, 3]) expect(await upload(`f${n}.bin`, Buffer.alloc(900, n))).toBe('Success');
    expect(await upload('f4.bin', Buffer.alloc(900, 4))).toBe('QuotaExceeded');
  });

  test('ItemCount is the default page size; an idle BITS session expires after uploadSessionIdleMs', async () => {
    await start();
    const first = await e7();
    expect(first.entries).toHaveLength(2);
    const digest = await digestFor(srv);
    const created = await bitsPacket(srv, digest, 'Create-Session', {
      'BITS-Supported-Protocols': '{7df0354d-249b-430f-820d-3d2a9bef4931}',
    });
    const session = created.headers.get('bits-session-id') ?? '';
    const frag = (a: number) =>
      bitsPacket(
        srv,
        digest,
        'Fragment',
        { 'BITS-Session-Id': session, 'Content-Range': `bytes ${a}-${a + 4}/20` },
        Buffer.alloc(5),
      );
    expect((await frag(0)).status).toBe(200);
    clock.ms += 59_000;
    expect((await frag(5)).status).toBe(200); // 59 s idle: still there
    clock.ms += 61_000;
    expect((await frag(10)).status).toBe(404);
  });

  test('retention: a token older than changeLogRetentionMs gets ResyncNeeded with the configured action', async () => {
    await start();
    let tok = (await e7()).token ?? '';
    for (let p = await e7(tok); p.status === 'FullData'; p = await e7(tok)) tok = p.token ?? '';
    clock.ms += DAY_MS;
    expect(await upload('day1.txt', Buffer.from('1'))).toBe('Success');
    const afterDay1 = (await e7(tok)).token ?? '';
    clock.ms += 10 * DAY_MS + 3600_000;
    expect(await upload('day11.txt', Buffer.from('11'))).toBe('Success');
    const old = await e7(tok);
    expect(old.status).toBe('ResyncNeeded');
    expect(old.action).toBe('Reupload');
    expect((await e7(afterDay1)).status).toBe('IncrementalChanges'); // its change is newer than the pruned part
  });

  test('markRestored at start and the admin restored call make earlier tokens ResyncNeeded', async () => {
    await start();
    const before = (await e7()).token ?? '';
    await srv.close();
    srv = await h.start({ dataDir, clock, settings: SETTINGS, adminToken: TOKEN, markRestored: true });
    expect((await e7(before)).status).toBe('ResyncNeeded');
    const fresh = (await e7()).token ?? '';
    expect((await e7(fresh)).status).toBe('FullData'); // a new enumeration's token is good
    const res = await fetch(`${srv.origin}/_spfs/admin/restored`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ site: 'personal/alice' }),
    });
    expect(await res.json()).toEqual({ libraries: [{ site: 'personal/alice', generation: 2 }] });
    expect((await e7(fresh)).status).toBe('ResyncNeeded');
    const unknown = await fetch(`${srv.origin}/_spfs/admin/restored`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ site: 'sites/nope' }),
    });
    expect(unknown.status).toBe(400);
  });

  test('settings are validated, from code and from a --config file (sizes as strings)', async () => {
    for (const bad of [
      { itemCount: 0 },
      { itemCount: 1001 },
      { resyncAction: 'Nope' },
      { maxFileSizeBytes: -1 },
      { spaceGrantedBytes: '10Q' },
      { changeLogRetentionMs: 'long' },
      { blockedFileExtensions: ['a/b'] },
      { unknownSetting: 1 },
    ])
      expect(() => checkSettings(bad, 'settings')).toThrow(InvalidInputError);
    expect(checkSettings({ blockedFileExtensions: ['EXE', '.exe', 'tmp'] }, 's')).toEqual({
      blockedFileExtensions: ['.exe', '.tmp'],
    });
    await expect(h.start({ settings: { itemCount: 0 } })).rejects.toBeInstanceOf(InvalidInputError);
    const dir = await h.tempDir();
    const file = path.join(dir, 'serve.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        users: [{ name: 'alice', password: 'pw' }],
        settings: { spaceGrantedBytes: '10G', maxFileSizeBytes: 5000, blockedFileExtensions: ['PST'] },
      }),
      { mode: 0o600 },
    );
    expect(loadConfigFile(file).settings).toEqual({
      spaceGrantedBytes: 10 * 1024 ** 3,
      maxFileSizeBytes: 5000,
      blockedFileExtensions: ['.pst'],
    });
  });
});
