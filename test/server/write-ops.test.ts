// write-ops against a real Store in a temp dir: every refusal of SharePoint's rules, ETag bumps, change-log entries,
// content committed before metadata, and the start-up sweep of orphans.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { stageStream } from '../../src/server/content-staging';
import { Store } from '../../src/server/store';
import { documentETag } from '../../src/shared/ids';
import {
  type WriteTarget,
  createDocument,
  createFolder,
  deleteItem,
  setItemLock,
  updateContent,
  updateMetadata,
} from '../../src/server/write-ops';
import { Harness, TestClock } from './server-harness';

const ROOT = '0f3c9e2a7b7d4c55a1d24b1f6e9c0a11';
const ALICE = { user: 'alice', identity: 'SkyDriveSync=1234' };

describe('write-ops', () => {
  const h = new Harness();
  let store: Store;
  let t: WriteTarget;
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await h.tempDir();
    store = new Store(dataDir);
    store.initLibrary(
      {
        listId: 'be100e28dd1c4f2f8e83acdb6fffff05',
        siteId: ROOT.replace('0f', '1f'),
        rootId: ROOT,
        epoch: 'e',
      },
      Date.parse('2025-03-04T10:11:12Z'),
      [],
    );
    t = { store, clock: new TestClock(), spaceGrantedBytes: 100, maxFileSizeBytes: 50 };
  });
  afterEach(async () => {
    store.close();
    await h.cleanup();
  });

  const stage = (text: string) => stageStream(store, Readable.from([Buffer.from(text)]), 1000);
  const refusal = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      return (err as { status?: string }).status ?? String(err);
    }
    return 'Success';
  };

  test('create, update with the current ETag, stale ETag is a Conflict; every write bumps version and logs', async () => {
    const doc = createDocument(t, ALICE, { parentId: ROOT, name: 'a.txt', content: await stage('hello') });
    expect(doc).toMatchObject({ version: 1, size: 5, modifier: ALICE.identity, modifiedBy: 'alice' });
    expect(fs.readFileSync(store.blobPath(doc)!, 'utf8')).toBe('hello');
    const seq = store.currentSeq();
    const v2 = updateContent(t, ALICE, {
      id: doc.id,
      etag: documentETag(doc.id, 1),
      content: await stage('hello world'),
    });
    expect(v2).toMatchObject({
      version: 2,
      size: 11,
      hash: 'aCgDG9jwBhDc4Q1yawMZAAAAAAA=',
      lastSeq: seq + 1,
    });
    expect(fs.existsSync(store.blobPath(doc)!)).toBe(false); // the old version's blob is gone
    const stale = await stage('x');
    expect(
      refusal(() => updateContent(t, ALICE, { id: doc.id, etag: documentETag(doc.id, 1), content: stale })),
    ).toBe('Conflict');
    expect(fs.readdirSync(store.tmpDir)).toEqual([]); // the refused content was discarded
    const v3 = updateMetadata(t, ALICE, { id: doc.id, etag: documentETag(doc.id, 2), modifiedMs: 0 });
    expect(v3.version).toBe(3);
  });

  test('names: case-insensitive clash, forbidden characters, 400-char paths, blocked extensions', async () => {
    createFolder(t, ALICE, { parentId: ROOT, name: 'Docs' });
    expect(refusal(() => createFolder(t, ALICE, { parentId: ROOT, name: 'docs' }))).toBe('NameConflict');
    for (const bad of ['a:b', 'CON', 'x.', ' y', '..', 'a\u0000b', '_vti_x', 'desktop.ini'])
      expect(refusal(() => createFolder(t, ALICE, { parentId: ROOT, name: bad }))).toBe('InvalidName');
    expect(refusal(() => createFolder(t, ALICE, { parentId: ROOT, name: 'n'.repeat(390) }))).toBe(
      'InvalidName',
    );
    t.dataPlane = { blockedFileExtensions: ['.exe'] };
    const c = await stage('MZ');
    expect(refusal(() => createDocument(t, ALICE, { parentId: ROOT, name: 'setup.EXE', content: c }))).toBe(
      'InvalidName',
    );
  });

  test('quota, MaxFileSize, missing parent, locks, root is read-only', async () => {
    const big = await stage('x'.repeat(60));
    expect(refusal(() => createDocument(t, ALICE, { parentId: ROOT, name: 'big', content: big }))).toBe(
      'Failure',
    );
    const a = createDocument(t, ALICE, { parentId: ROOT, name: 'a', content: await stage('x'.repeat(45)) });
    createDocument(t, ALICE, { parentId: ROOT, name: 'b', content: await stage('x'.repeat(45)) });
    const c = await stage('x'.repeat(20));
    expect(refusal(() => createDocument(t, ALICE, { parentId: ROOT, name: 'c', content: c }))).toBe(
      'QuotaExceeded',
    );
    expect(refusal(() => createFolder(t, ALICE, { parentId: 'ab'.repeat(16), name: 'x' }))).toBe('NotFound');
    setItemLock(t, a.id, 'admin');
    expect(refusal(() => deleteItem(t, ALICE, { id: a.id, etag: undefined }))).toBe('Locked');
    setItemLock(t, a.id, null);
    deleteItem(t, ALICE, { id: a.id, etag: undefined });
    expect(refusal(() => deleteItem(t, ALICE, { id: ROOT, etag: undefined }))).toBe('AccessDenied');
  });

  test('SpaceUsed stays exact through creates, updates, deletes and a rolled-back transaction', async () => {
    const fresh = (): number => {
      const other = new Store(dataDir);
      try {
        return other.spaceUsed();
      } finally {
        other.close();
      }
    };
    expect(store.spaceUsed()).toBe(0); // computed once, then maintained
    const a = createDocument(t, ALICE, { parentId: ROOT, name: 'a', content: await stage('x'.repeat(10)) });
    createDocument(t, ALICE, { parentId: ROOT, name: 'b', content: await stage('x'.repeat(7)) });
    updateContent(t, ALICE, { id: a.id, etag: undefined, content: await stage('x'.repeat(3)) });
    expect(store.spaceUsed()).toBe(10);
    const row = { ...a, id: 'cd'.repeat(16), name: 'c', parentId: ROOT, size: 40 };
    expect(() =>
      store.transaction(() => {
        store.insertItem(row, { user: null, identity: null }, 0);
        throw new Error('rolled back');
      }),
    ).toThrow('rolled back');
    expect(store.spaceUsed()).toBe(10);
    deleteItem(t, ALICE, { id: a.id, etag: undefined });
    expect(store.spaceUsed()).toBe(7);
    expect(fresh()).toBe(7);
  });

  test('moves: into a descendant refused; delete takes the subtree; start-up sweep removes orphans', async () => {
    const f = createFolder(t, ALICE, { parentId: ROOT, name: 'f' });
    const g = createFolder(t, ALICE, { parentId: f.id, name: 'g' });
    const d = createDocument(t, ALICE, { parentId: g.id, name: 'd.txt', content: await stage('d') });
    expect(refusal(() => updateMetadata(t, ALICE, { id: f.id, etag: undefined, parentId: g.id }))).toBe(
      'Failure',
    );
    const moved = updateMetadata(t, ALICE, { id: d.id, etag: undefined, parentId: ROOT, name: 'D.txt' });
    expect(moved).toMatchObject({ parentId: ROOT, name: 'D.txt', version: 2 });
    deleteItem(t, ALICE, { id: f.id, etag: f.id });
    expect(store.get(g.id)?.deleted).toBe(true);
    fs.writeFileSync(path.join(store.tmpDir, 'half.tmp'), 'x');
    fs.writeFileSync(path.join(store.blobDir, 'orphan.1'), 'x');
    store.close();
    store = new Store(dataDir);
    t.store = store;
    expect(fs.readdirSync(store.tmpDir)).toEqual([]);
    expect(fs.readdirSync(store.blobDir)).toEqual([moved.blob]);
  });
});
