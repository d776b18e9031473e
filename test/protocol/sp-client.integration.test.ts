// SpClient against the real reference server over HTTP on 127.0.0.1: discovery both ways, the first-run sequence
// (policy, root, paged crawl, paged FullData, NoChanges), a ranged download, auth failure, connection refused.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuthError, NetworkError } from '../../src/protocol/errors';
import { SpClient } from '../../src/protocol/sp-client';
import type { RemoteItem } from '../../src/protocol/types';
import { startServer, type RunningServer } from '../../src/server';
import { TempDirs } from '../helpers/temp-dirs';

const USER = { name: 'alice', password: 'correct-horse-battery' };
const BIG = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31 + 7) % 256));
const TOP_FOLDERS = ['Alpha', 'Bravo', 'Charlie', 'Delta', 'Echo'];

const temps = new TempDirs();
let server: RunningServer;
const clients: SpClient[] = [];

beforeAll(async () => {
  const seed = temps.make('spfs-seed-');
  for (const f of TOP_FOLDERS) fs.mkdirSync(path.join(seed, f));
  fs.mkdirSync(path.join(seed, 'Alpha', 'Inner'));
  fs.writeFileSync(path.join(seed, 'Alpha', 'Inner', 'hello.txt'), 'hello world');
  fs.writeFileSync(path.join(seed, 'big.bin'), BIG);
  fs.writeFileSync(path.join(seed, 'readme.md'), '# spfs\n');
  server = await startServer({ dataDir: temps.make('spfs-data-'), seedDir: seed, users: [USER], port: 0 });
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await server?.close();
  temps.cleanup();
});

async function connect(url: string, password = USER.password): Promise<SpClient> {
  const client = await SpClient.connect({ url, credentials: { user: USER.name, password } });
  clients.push(client);
  return client;
}

describe('SpClient ↔ reference server', () => {
  test('connects via the server origin (GetMyProperties) and via the site URL to the same library', async () => {
    const viaOrigin = await connect(server.origin);
    const viaSite = await connect(`${server.siteUrl}/`);
    expect(viaOrigin.library.siteUrl).toBe(server.siteUrl);
    expect(viaOrigin.library.listId).toBe(server.listId);
    expect(viaSite.library).toEqual(viaOrigin.library);
    expect(viaSite.library.siteId).toMatch(/^[0-9a-f]{32}$/);
  });

  test('first run: policy, root, paged folder crawl, paged FullData, then NoChanges', async () => {
    const client = await connect(server.siteUrl);
    const policy = await client.policy();
    expect(policy.itemCount).toBeGreaterThan(0);
    expect(policy.downloadUrlTemplate).toContain(server.siteUrl);

    const root = await client.rootFolder();
    expect(root.item.parentId).toBe(server.listId);
    expect(root.quota.used).toBe(BIG.length + 'hello world'.length + '# spfs\n'.length);

    // Crawl the root's folders two at a time.
    const crawled: RemoteItem[] = [];
    for (let offset = 0, more = true; more; offset += 2) {
      const page = await client.children(root.item.id, { foldersOnly: true, offset, count: 2 });
      expect(page.folder.id).toBe(root.item.id);
      expect(page.items.length).toBeLessThanOrEqual(2);
      crawled.push(...page.items);
      more = page.hasMore;
      expect(offset).toBeLessThan(20);
    }
    expect(crawled.map((i) => i.name).sort()).toEqual(TOP_FOLDERS);
    expect(crawled.every((i) => i.kind === 'folder' && i.parentId === root.item.id)).toBe(true);

    // Full enumeration, two changes per page, until the server says there is no more.
    const seen = new Map<string, RemoteItem>();
    let token: string | undefined;
    let pages = 0;
    for (let more = true; more; pages++) {
      const page = await client.changes({ maxItemCount: 2, ...(token ? { token } : {}) });
      expect(page.status).toBe('FullData');
      expect(page.token).toBeDefined();
      for (const item of page.items) seen.set(item.id, item);
      token = page.token;
      more = page.hasMore;
      expect(pages).toBeLessThan(20);
    }
    expect(pages).toBeGreaterThan(1);
    const names = [...seen.values()].map((i) => i.name).sort();
    expect(names).toEqual([...TOP_FOLDERS, 'Inner', 'big.bin', 'hello.txt', 'readme.md'].sort());
    const hello = [...seen.values()].find((i) => i.name === 'hello.txt')!;
    expect(hello).toMatchObject({
      kind: 'document',
      size: 11,
      hash: 'aCgDG9jwBhDc4Q1yawMZAAAAAAA=',
      deleted: false,
    });

    // The final token (URL-encoded, sent back verbatim) means: nothing new.
    const again = await client.changes({ maxItemCount: 2, token: token! });
    expect(again.status).toBe('NoChanges');
    expect(again.items).toEqual([]);
    expect(again.token).toBeDefined();
  });

  test('a Range download returns exactly the seed file slice', async () => {
    const client = await connect(server.siteUrl);
    const items: RemoteItem[] = [];
    for (let more = true, token: string | undefined; more;) {
      const page = await client.changes({ maxItemCount: 500, ...(token ? { token } : {}) });
      items.push(...page.items);
      token = page.token;
      more = page.hasMore;
    }
    const big = items.find((i) => i.name === 'big.bin')!;
    expect(big.downloadUrl).toBeDefined();
    const dl = await client.download(big.downloadUrl!, { start: 1000, end: 65_999 });
    expect(dl.status).toBe(206);
    expect(dl.totalSize).toBe(BIG.length);
    const parts: Buffer[] = [];
    for await (const chunk of dl.body) parts.push(Buffer.from(chunk));
    expect(Buffer.concat(parts).equals(BIG.subarray(1000, 66_000))).toBe(true);
  });

  test('a wrong password → AuthError that does not contain the password', async () => {
    const wrong = 'not-the-password-xyz';
    const err = await connect(server.siteUrl, wrong).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).status).toBe(401);
    const e = err as Error;
    expect(`${e.message}${e.stack ?? ''}${JSON.stringify(e)}`).not.toContain(wrong);
  });

  test('connection refused → NetworkError (unreachable)', async () => {
    const gone = await startServer({ dataDir: temps.make('spfs-data-'), users: [USER], port: 0 });
    const origin = gone.origin;
    await gone.close();
    const err = await SpClient.connect({
      url: origin,
      credentials: { user: USER.name, password: USER.password },
      clock: { now: () => 0, sleep: () => Promise.resolve() },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).kind).toBe('unreachable');
  });
});
