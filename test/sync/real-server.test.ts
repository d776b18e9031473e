// TreeSync and Hydrator end to end: the real reference server over HTTP on 127.0.0.1, the real SpClient, real
// SQLite and a real content cache in temp dirs.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContentCache } from '../../src/cache/content-cache';
import { MetadataStore, type StoredItem } from '../../src/cache/metadata-store';
import { SpClient } from '../../src/protocol/sp-client';
import type { RunningServer } from '../../src/server';
import type { ItemId } from '../../src/shared/ids';
import { IntegrityError } from '../../src/sync/errors';
import { Hydrator, readInto, type ContentHandle } from '../../src/sync/hydrator';
import { TreeSync } from '../../src/sync/tree-sync';
import { Harness, USER } from '../server/server-harness';
import { capturingLogger } from '../helpers/temp-dirs';

const MIB = 1024 * 1024;
const BIG_BYTES = 64 * MIB;

interface Rig {
  srv: RunningServer;
  dataDir: string;
  requestLog: string;
  api: SpClient;
  store: MetadataStore;
  cache: ContentCache;
  hydrator: Hydrator;
  sync: TreeSync;
  lines: ReturnType<typeof capturingLogger>['lines'];
  byPath(p: string): StoredItem;
}

const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

async function rig(
  seed: Record<string, string | Buffer | null>,
  downloadBytesPerSecond?: number,
): Promise<Rig> {
  const seedDir = await harness.seed(seed);
  const dataDir = await harness.tempDir('spfs-data-');
  const work = await harness.tempDir('spfs-client-');
  const requestLog = path.join(work, 'requests.jsonl');
  const srv = await harness.start({
    dataDir,
    seedDir,
    requestLogFile: requestLog,
    ...(downloadBytesPerSecond ? { faults: { downloadBytesPerSecond } } : {}),
  });
  const api = await SpClient.connect({
    url: srv.siteUrl,
    credentials: { user: USER.name, password: USER.password },
  });
  closers.push(() => api.close());
  const { logger, lines } = capturingLogger();
  const store = MetadataStore.open(path.join(work, 'meta.sqlite'), { logger });
  closers.push(() => store.close());
  const cache = await ContentCache.open({
    dir: path.join(work, 'content'),
    store,
    maxBytes: 512 * MIB,
    logger,
  });
  const hydrator = new Hydrator({ api, store, cache, logger });
  closers.push(() => hydrator.close());
  const sync = new TreeSync({ api, store, logger });
  const byPath = (p: string): StoredItem => {
    let item = store.getItem(store.rootId()!)!;
    for (const seg of p.split('/').filter(Boolean)) item = store.getChild(item.id, seg)!;
    return item;
  };
  return { srv, dataDir, requestLog, api, store, cache, hydrator, sync, lines, byPath };
}

function localTree(store: MetadataStore): string[] {
  const out: string[] = [];
  const walk = (id: ItemId, prefix: string): void => {
    for (const c of store.listChildren(id)) {
      out.push(c.kind === 'folder' ? `${prefix}${c.name}/` : `${prefix}${c.name} ${c.size}`);
      if (c.kind === 'folder') walk(c.id, `${prefix}${c.name}/`);
    }
  };
  walk(store.rootId()!, '/');
  return out.sort();
}

function seedTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) {
        out.push(`${prefix}${e.name}/`);
        walk(full, `${prefix}${e.name}/`);
      } else out.push(`${prefix}${e.name} ${fs.statSync(full).size}`);
    }
  };
  walk(dir, '/');
  return out.sort();
}

async function readRange(h: ContentHandle, pos: number, len: number) {
  const b = Buffer.alloc(len);
  let done = 0;
  while (done < len) {
    const n = await readInto(h, b.subarray(done), len - done, pos + done);
    if (n === 0) break;
    done += n;
  }
  return b.subarray(0, done);
}

function downloadRequests(
  logFile: string,
): Array<{ path: string; query: string; range?: string; bytes?: number }> {
  if (!fs.existsSync(logFile)) return [];
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { path: string; query: string; range?: string; bytes?: number })
    .filter((e) => e.path.includes('download.aspx'));
}

const SMALL_SEED = {
  'Docs/readme.txt': 'hello world',
  'Docs/Deep/er/leaf.bin': randomBytes(70_000),
  Empty: null,
  'top.txt': 'top level\n',
  'zero.dat': Buffer.alloc(0),
};

function isVerified(cache: ContentCache, item: StoredItem): boolean {
  const hit = cache.openVerified(item.id, item.etag);
  hit?.release();
  return hit !== undefined;
}

describe('TreeSync + Hydrator against the reference server', () => {
  it('syncs a tree equal to the seed; a second run is incremental and downloads nothing', async () => {
    const r = await rig(SMALL_SEED);
    const first = await r.sync.initialSync();
    expect(first.mode).toBe('full');
    const expected = seedTree(await harness.seed(SMALL_SEED));
    expect(localTree(r.store)).toEqual(expected);
    expect(first.items).toBe(expected.length + 1);
    expect(r.store.getSyncState()?.token).toBeTruthy();
    expect(r.store.getSyncState()?.quota.granted).toBeGreaterThan(0);
    const again = await r.sync.sync();
    expect(again).toEqual({ mode: 'incremental', items: first.items });
    expect(downloadRequests(r.requestLog)).toEqual([]); // syncing metadata downloads no content
  });

  it('downloads only opened files, verifies them, and serves a second open from disk with the server closed', async () => {
    const r = await rig(SMALL_SEED);
    await r.sync.initialSync();
    const leaf = r.byPath('/Docs/Deep/er/leaf.bin');
    const h = await r.hydrator.open(leaf);
    const bytes = await readRange(h, 0, leaf.size);
    await h.close();
    await r.hydrator.settled(leaf.id, leaf.etag);
    expect(bytes.length).toBe(70_000);
    expect(isVerified(r.cache, leaf)).toBe(true);
    expect(isVerified(r.cache, r.byPath('/Docs/readme.txt'))).toBe(false);
    expect(downloadRequests(r.requestLog)).toHaveLength(1);
    const empty = await r.hydrator.open(r.byPath('/zero.dat'));
    expect(await readInto(empty, Buffer.alloc(4), 4, 0)).toBe(0);
    await empty.close();

    await r.srv.close();
    const again = await r.hydrator.open(leaf);
    expect((await readRange(again, 0, leaf.size)).equals(bytes)).toBe(true);
    await again.close();
    expect(r.hydrator.stats().fetches).toBe(1);
  });

  it('head and tail of a 64 MiB file cost a few MiB over HTTP; a full read then verifies it', async () => {
    const big = randomBytes(BIG_BYTES);
    const r = await rig({ 'big.bin': big }, 64 * MIB); // paced: the whole file takes about a second
    await r.sync.initialSync();
    const item = r.byPath('/big.bin');
    const h = await r.hydrator.open(item);
    const head = await readRange(h, 0, 4096);
    expect(head.equals(big.subarray(0, 4096))).toBe(true);
    const tail = await readRange(h, BIG_BYTES - 1000, 1000);
    expect(tail.equals(big.subarray(BIG_BYTES - 1000))).toBe(true);
    const sent = () => downloadRequests(r.requestLog).reduce((n, e) => n + (e.bytes ?? 0), 0);
    expect(sent()).toBeLessThanOrEqual(2 * MIB); // two read-ahead windows at most
    expect(downloadRequests(r.requestLog).every((e) => e.range !== undefined)).toBe(true);

    const all = await readRange(h, 0, BIG_BYTES);
    expect(all.equals(big)).toBe(true);
    await h.close();
    await r.hydrator.settled(item.id, item.etag);
    expect(sent()).toBe(BIG_BYTES); // nothing fetched twice
    const hit = r.cache.openVerified(item.id, item.etag);
    expect(fs.readFileSync(hit!.path).equals(big)).toBe(true);
    hit!.release();
  });

  it('a corrupted blob on the server gives IntegrityError and no verified cache entry', async () => {
    const r = await rig({
      'good.txt': 'good\n',
      'corrupt me.txt': 'these bytes will be replaced on the server\n',
    });
    await r.sync.initialSync();
    // The server keeps one folder per library; find its database wherever the layout puts it.
    const dbFile = (fs.readdirSync(r.dataDir, { recursive: true }) as string[]).find((f) =>
      f.endsWith('spfs-server.sqlite'),
    )!;
    const db = new Database(path.join(r.dataDir, dbFile), { readonly: true });
    const row = db.prepare("SELECT blob FROM items WHERE name = 'corrupt me.txt'").get() as { blob: string };
    db.close();
    const blobPath = path.join(r.dataDir, path.dirname(dbFile), 'blobs', row.blob);
    fs.writeFileSync(blobPath, Buffer.alloc(fs.statSync(blobPath).size, 0x41));
    const item = r.byPath('/corrupt me.txt');
    const h = await r.hydrator.open(item);
    await expect(readRange(h, 0, item.size)).rejects.toBeInstanceOf(IntegrityError);
    await h.close();
    await r.hydrator.settled(item.id, item.etag);
    expect(isVerified(r.cache, item)).toBe(false);
    expect(r.cache.presentRanges(item.id, item.etag).list()).toEqual([]); // bad bytes dropped
    expect(r.hydrator.stats().verifyFailures).toBe(2); // fetched again once before giving up
    expect(r.lines.some((l) => l.level === 50 && l.id === item.id && l.name === 'corrupt me.txt')).toBe(true);
    // The good file next to it is unaffected.
    const good = await r.hydrator.open(r.byPath('/good.txt'));
    expect((await readRange(good, 0, 5)).toString()).toBe('good\n');
    await good.close();
  });
});
