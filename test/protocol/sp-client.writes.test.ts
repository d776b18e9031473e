// SpClient writes, digest, BITS, subscriptions and fault recovery against the real reference server over HTTP.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  LocalSourceChangedError,
  SubscriptionGoneError,
  WriteRejectedError,
} from '../../src/protocol/errors';
import { SpClient } from '../../src/protocol/sp-client';
import type { RemoteItem } from '../../src/protocol/types';
import { quickXorHash } from '../../src/shared/quickxorhash';
import { startServer, type RunningServer } from '../../src/server';
import { eventually } from '../helpers/eventually';
import { TempDirs } from '../helpers/temp-dirs';
import { fakeClock } from './fake-clock';

const ALICE = { name: 'alice', password: 'correct-horse-battery', tokens: ['alice-bearer-token-0123456789'] };
const BOB = { name: 'bob', password: 'bob-password-123456' };
const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const temps = new TempDirs();
let server: RunningServer;
let requestLog: string;
const clients: SpClient[] = [];

beforeAll(async () => {
  const seed = temps.make('spfs-seed-');
  fs.mkdirSync(path.join(seed, 'Docs'));
  fs.writeFileSync(path.join(seed, 'Docs', 'big.bin'), Buffer.alloc(300_000, 7));
  requestLog = path.join(temps.make('spfs-log-'), 'requests.jsonl');
  server = await startServer({
    dataDir: temps.make('spfs-data-'),
    seedDir: seed,
    users: [ALICE, BOB],
    teamSites: [{ name: 'team', members: ['alice', 'bob'] }],
    adminToken: ADMIN_TOKEN,
    requestLogFile: requestLog,
    port: 0,
  });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.close();
  temps.cleanup();
});

async function connect(extra: Partial<Parameters<typeof SpClient.connect>[0]> = {}): Promise<SpClient> {
  const basic = extra.auth === undefined && extra.ntlm === undefined;
  const client = await SpClient.connect({
    url: server.siteUrl,
    ...(basic ? { credentials: { user: ALICE.name, password: ALICE.password } } : {}),
    ...extra,
  });
  clients.push(client);
  return client;
}

async function admin(route: string, body: unknown): Promise<void> {
  const res = await fetch(`${server.origin}/_spfs/admin/${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.ok).toBe(true);
}

/** The request log's length once no line has been added for 50 ms. */
async function settledLogLength(): Promise<number> {
  let n = logLines().length;
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const now = logLines().length;
    if (now === n) return n;
    n = now;
  }
}

function logLines(): { path: string; status: number; user: string | null; range?: string }[] {
  return fs
    .readFileSync(requestLog, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { path: string; status: number; user: string | null; range?: string });
}

function file(name: string, content: Buffer | string): string {
  const p = path.join(temps.make('spfs-up-'), name);
  fs.writeFileSync(p, content);
  return p;
}

async function childrenOf(client: SpClient, id: RemoteItem['id']): Promise<RemoteItem[]> {
  return (await client.children(id, { foldersOnly: false, offset: 0, count: 1000 })).items;
}

describe('SpClient writes ↔ reference server', () => {
  test('create folder, create file, update with its ETag, rename, move, touch, delete', async () => {
    const client = await connect();
    const root = (await client.rootFolder()).item;
    const folder = await client.createFolder(root.id, 'Work');
    expect(folder.kind).toBe('folder');
    const src = file('a.txt', 'hello world');
    const created = await client.createFile(folder.id, 'a.txt', { path: src });
    expect(created.size).toBe(11);
    expect(created.hash).toBe(quickXorHash(Buffer.from('hello world')));
    expect(created.modifierIdentity).toBe(client.customIdentity);

    const updated = await client.updateFile(created, { path: file('a2.txt', 'hello again, world') });
    expect(updated.id).toBe(created.id);
    expect(updated.etag).not.toBe(created.etag);
    expect(updated.size).toBe(18);
    // The old ETag is stale now: a typed Conflict carrying the current item.
    const stale = await client.updateFile(created, { path: src }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(WriteRejectedError);
    expect((stale as WriteRejectedError).status).toBe('Conflict');
    expect((stale as WriteRejectedError).current?.etag).toBe(updated.etag);

    const renamed = await client.rename(updated, 'b.txt');
    expect(renamed.name).toBe('b.txt');
    const moved = await client.move(renamed, root.id);
    expect(moved.parentId).toBe(root.id);
    const when = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
    const touched = await client.touch(moved, when);
    expect(touched.modified.getTime()).toBe(when.getTime());
    await client.delete(touched);
    await expect(client.item(touched.id)).rejects.toMatchObject({ code: 'EREMOTENOTFOUND' });
  });

  test('a batch returns per-item results in request order, including NameConflict and NotFound', async () => {
    const client = await connect();
    const root = (await client.rootFolder()).item;
    const results = await client.writeBatch([
      { op: 'createFolder', parentId: root.id, name: 'Batch' },
      { op: 'createFile', parentId: root.id, name: 'one.txt', source: { path: file('one.txt', '1') } },
      { op: 'createFolder', parentId: root.id, name: 'Docs' },
      {
        op: 'createFile',
        parentId: '0123456789abcdef0123456789abcdef' as RemoteItem['id'],
        name: 'x',
        source: { path: file('x', 'x') },
      },
    ]);
    expect(results.map((r) => r.status)).toEqual(['Success', 'Success', 'NameConflict', 'NotFound']);
    const names = (await childrenOf(client, root.id)).map((i) => i.name);
    expect(names).toEqual(expect.arrayContaining(['Batch', 'one.txt']));
  });

  test('a file at the inline threshold goes through BITS fragments and is committed by FragmentSessionId', async () => {
    const client = await connect({ fragmentBytes: 3 * 1024 * 1024 });
    const root = (await client.rootFolder()).item;
    const size = (await client.policy()).inlineUploadThreshold + 1000;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) data[i] = i % 251;
    const progress: number[] = [];
    const item = await client.createFile(
      root.id,
      'large.bin',
      { path: file('large.bin', data) },
      { onProgress: (b) => progress.push(b) },
    );
    expect(item.size).toBe(size);
    expect(item.hash).toBe(quickXorHash(data));
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.at(-1)).toBe(size);
  });

  test('a stale form digest gets one retry with the digest the 403 carries', async () => {
    const client = await connect();
    const root = (await client.rootFolder()).item;
    (client as unknown as { session: { digests: { set(d: string): void } } }).session.digests.set(
      '0xBAD,1 Jan 2020 00:00:00 -0000',
    );
    const folder = await client.createFolder(root.id, 'AfterDigest');
    expect(folder.name).toBe('AfterDigest');
  });

  test('a create whose response is lost after the server applied it is not duplicated (reset-mid-body fault)', async () => {
    const client = await connect();
    const root = (await client.rootFolder()).item;
    await admin('faults', {
      kind: 'reset-mid-body',
      afterBytes: 0,
      method: 'POST',
      path: 'RootFolder\\?View=SkyDriveSync$',
      count: 1,
    });
    const [res] = await client.writeBatch([
      {
        op: 'createFile',
        parentId: root.id,
        name: 'once.txt',
        source: { path: file('once.txt', 'only once') },
      },
    ]);
    expect(res).toMatchObject({ status: 'Success', recovered: true });
    const same = (await childrenOf(client, root.id)).filter((i) => i.name.toLowerCase().startsWith('once'));
    expect(same).toHaveLength(1);
  });

  test('a file written after it was hashed fails its upload at once: no request with bytes its hash does not name (the write lands through a stat hook: its timing cannot be caused for real)', async () => {
    const client = await connect();
    const root = (await client.rootFolder()).item;
    const src = file('moving.txt', Buffer.alloc(200_000, 1));
    // The source is stamped before hashing and checked after it: the program writes to it in between.
    const real = fs.promises.stat.bind(fs.promises);
    let calls = 0;
    const hooked = (p: fs.PathLike, o?: fs.StatOptions): ReturnType<typeof real> => {
      if (p === src && ++calls === 2) fs.writeFileSync(src, Buffer.alloc(200_000, 2)); // same size, new bytes
      return real(p, o);
    };
    const spy = jest.spyOn(fs.promises, 'stat').mockImplementation(hooked);
    const before = await settledLogLength();
    try {
      const err = await client.createFile(root.id, 'moving.txt', { path: src }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalSourceChangedError);
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBe(2);
    // Not sent at all (the server would refuse bytes whose XORHash is another's), so nothing to recover either.
    const writes = logLines()
      .slice(before)
      .filter((l) => /RootFolder\?View=SkyDriveSync/.test(l.path));
    expect(writes).toEqual([]);
    expect((await childrenOf(client, root.id)).map((i) => i.name)).not.toContain('moving.txt');
    // Quiet again, the same file goes up whole.
    const created = await client.createFile(root.id, 'moving.txt', { path: src });
    expect(created.hash).toBe(quickXorHash(Buffer.alloc(200_000, 2)));
  });

  test('429 from the server: Retry-After honoured, then success (status fault)', async () => {
    const clock = fakeClock();
    const client = await connect({ clock });
    await admin('faults', { kind: 'status', status: 429, retryAfterSeconds: 3, path: 'policy', count: 1 });
    expect((await client.policy()).itemCount).toBeGreaterThan(0);
    expect(clock.sleeps).toContain(3000);
  });

  test('a download reset mid-body resumes with Range + If-Range (reset-mid-body fault)', async () => {
    const client = await connect({ random: () => 0 });
    const docs = (await childrenOf(client, (await client.rootFolder()).item.id)).find(
      (i) => i.name === 'Docs',
    );
    const big = (await childrenOf(client, docs!.id)).find((i) => i.name === 'big.bin')!;
    await admin('faults', { kind: 'reset-mid-body', afterBytes: 100_000, path: 'download\\.aspx', count: 1 });
    const s = await client.download(big.downloadUrl!);
    const chunks: Buffer[] = [];
    for await (const c of s.body) chunks.push(Buffer.from(c));
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(300_000);
    expect(all.equals(Buffer.alloc(300_000, 7))).toBe(true);
    // The server logs a request once its response has finished, which may come after the client read the last byte.
    const ranged = await eventually(
      () =>
        logLines()
          .filter((l) => l.path.includes('download.aspx') && l.range !== undefined)
          .at(-1),
      'the resumed download in the request log',
      10_000,
      20,
    );
    expect(ranged.range).toMatch(/^bytes=\d+-$/);
  });

  test('a truncated download body is detected and completed (truncate fault)', async () => {
    const client = await connect({ random: () => 0 });
    const docs = (await childrenOf(client, (await client.rootFolder()).item.id)).find(
      (i) => i.name === 'Docs',
    );
    const big = (await childrenOf(client, docs!.id)).find((i) => i.name === 'big.bin')!;
    await admin('faults', { kind: 'truncate', afterBytes: 50_000, path: 'download\\.aspx', count: 1 });
    const s = await client.download(big.downloadUrl!);
    let n = 0;
    for await (const c of s.body) n += c.length;
    expect(n).toBe(300_000);
  });
});

describe('SpClient subscriptions ↔ reference server', () => {
  test('subscribe, notified of another user’s change, not of our own write, gone after unsubscribe', async () => {
    const client = await connect();
    const root = (await client.rootFolder()).item;
    const sub = await client.subscribe('state-1');
    expect(sub.id).toMatch(/^[0-9a-f]{32}$/);
    expect(await client.waitForNotification(sub.channelUrl, 1)).toBe('timeout');
    await client.createFolder(root.id, 'OwnWrite'); // carries X-SubscriptionIdToNotNotify
    expect(await client.waitForNotification(sub.channelUrl, 1)).toBe('timeout');
    await admin('changes', { user: 'bob', op: 'create-folder', path: 'FromBob' });
    expect(await client.waitForNotification(sub.channelUrl, 5)).toBe('changed');
    const renewed = await client.renew(sub.id);
    expect(renewed.id).toBe(sub.id);
    await client.unsubscribe(sub.id);
    await expect(client.waitForNotification(sub.channelUrl, 1)).rejects.toBeInstanceOf(SubscriptionGoneError);
    await expect(client.renew(sub.id)).rejects.toBeInstanceOf(SubscriptionGoneError);
  });
});

describe('SpClient auth schemes ↔ reference server', () => {
  test('Bearer token from a file, re-read after it changes', async () => {
    const tokenFile = file('token', 'wrong-token-000000000000');
    const { bearerAuth } = await import('../../src/protocol/auth/bearer-auth');
    const client = await connect({ auth: bearerAuth({ tokenFile }) }).catch((e: unknown) => e);
    expect(client).toMatchObject({ code: 'EAUTH' });
    fs.writeFileSync(tokenFile, `${ALICE.tokens[0]}\n`);
    const ok = await connect({ auth: bearerAuth({ tokenFile }) });
    expect(ok.library.listId).toBe(server.listId);
  });

  test('NTLM: full handshake once, the authenticated connection reused, writes work', async () => {
    // The request log is written after each response ends: let earlier tests' lines land before counting.
    const before = await settledLogLength();
    const client = await connect({
      ntlm: { user: `SPFS\\${ALICE.name}`, password: ALICE.password },
      connections: 1,
    });
    expect(client.library.siteUrl).toBe(server.siteUrl);
    const root = (await client.rootFolder()).item;
    await client.createFolder(root.id, 'ViaNtlm');
    // Lines are appended asynchronously after each response; wait for the write (contextinfo, then the POST).
    const mine = await eventually(
      () => {
        const lines = logLines().slice(before);
        const digest = lines.findIndex((l) => l.path.endsWith('/_api/contextinfo'));
        return digest >= 0 && lines.length > digest + 1 ? lines : undefined;
      },
      'the NTLM requests in the request log',
      10_000,
      20,
    );
    expect(mine.length).toBeGreaterThanOrEqual(6);
    expect(mine.filter((l) => l.status === 401)).toHaveLength(1);
    expect(mine.filter((l) => l.status !== 401).every((l) => l.user === 'alice')).toBe(true);
    const bad = await connect({ ntlm: { user: ALICE.name, password: 'wrong' } }).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'EAUTH' });
  });

  test('team site URL and library URL both reach the team library', async () => {
    const team = server.libraries.find((l) => l.site === 'sites/team')!;
    const viaSite = await connect({ url: team.url });
    expect(viaSite.library.listId).toBe(team.listId);
  });
});
