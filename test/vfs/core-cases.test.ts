// The core cases (test/helpers/core-cases.ts) in process: src/vfs with the real uploader, SQLite store and content
// cache, on the real reference server over HTTP, without a mount. test/e2e/core-cases.test.ts runs the same cases
// through a real FUSE mount.
import { constants } from 'node:fs';
import * as path from 'node:path';
import { type WritePath } from '../../src/cli/write-path';
import { MetadataStore } from '../../src/cache/metadata-store';
import { SpClient } from '../../src/protocol/sp-client';
import type { TreeSync } from '../../src/sync/tree-sync';
import { toErrnoName } from '../../src/vfs/errors';
import type { ItemId } from '../../src/shared/ids';
import { adminPost } from '../helpers/admin-endpoint';
import { CORE_CASES, serverView, type CoreDriver, type ServerAccess } from '../helpers/core-cases';
import { DEFAULT_PREFETCH_FILES } from '../../src/sync/sibling-prefetch';
import { openInProcessLibrary } from '../helpers/in-process-library';
import { Harness, USER } from '../server/server-harness';

const TOKEN = `core-${Math.random().toString(36).slice(2)}-admin-token`;
const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
let driver: CoreDriver;
let access: ServerAccess;
let w: WritePath;
let api: SpClient;
let store: MetadataStore;
let workDir: string;

beforeAll(async () => {
  const work = await harness.tempDir('spfs-core-');
  workDir = work;
  const srv = await harness.start({ dataDir: path.join(work, 'server'), adminToken: TOKEN });
  access = { url: srv.siteUrl, user: USER.name, password: USER.password };
  const port = new URL(srv.siteUrl).port;
  let tree: TreeSync;
  ({ api, store, tree, w } = await openInProcessLibrary({
    work,
    siteUrl: srv.siteUrl,
    closers,
    write: { writeBackMs: 0 },
    prefetchFiles: DEFAULT_PREFETCH_FILES, // as a mount runs
  }));
  const fs = w.fs;
  const p = (rel: string): string => `/${rel}`;
  // As the kernel: an open answered ESTALE is tried once more after the name was looked up again.
  const retried = (open: () => Promise<number>): Promise<number> =>
    open().catch((e: unknown) => {
      if (toErrnoName(e) === 'ESTALE') return open();
      throw e;
    });
  const openW = async (rel: string, truncate: boolean) => {
    const fh = await retried(() => fs.open(p(rel), constants.O_WRONLY | (truncate ? constants.O_TRUNC : 0)));
    return {
      write: async (data: Buffer, position: number) => void (await fs.write(fh, data, data.length, position)),
      close: async () => {
        await fs.flush(fh);
        await fs.release(fh);
      },
    };
  };
  driver = {
    async writeFile(rel, data) {
      const fh = await fs.getattr(p(rel)).then(
        () => fs.open(p(rel), constants.O_WRONLY | constants.O_TRUNC),
        () => fs.create(p(rel), 0o644),
      );
      await fs.write(fh, data, data.length, 0);
      await fs.flush(fh);
      await fs.release(fh);
    },
    async readFile(rel) {
      const fh = await retried(() => fs.open(p(rel), constants.O_RDONLY));
      const size = (await fs.getattr(p(rel))).size; // fstat, as readFile(3) programs do after open
      const buf = Buffer.alloc(size);
      const n = await fs.read(fh, buf, size, 0);
      await fs.release(fh);
      return buf.subarray(0, n);
    },
    openWrite: openW,
    async openRead(rel) {
      const fh = await fs.open(p(rel), constants.O_RDONLY);
      const { ino } = await fs.getattr(p(rel));
      return {
        fstatSize: async () => (await fs.getattrOfIno(ino)).size,
        read: async (length, position) => {
          const buf = Buffer.alloc(length);
          return buf.subarray(0, await fs.read(fh, buf, length, position));
        },
        close: () => fs.release(fh),
      };
    },
    rename: (a, b) => fs.rename(p(a), p(b)),
    unlink: (rel) => fs.unlink(p(rel)),
    mkdir: (rel) => fs.mkdir(p(rel), 0o755),
    rmdir: (rel) => fs.rmdir(p(rel)),
    readdir: async (rel) => (await fs.readdir(p(rel))).map((e) => e.name),
    async stat(rel) {
      const a = await fs.getattr(p(rel));
      return {
        size: a.size,
        mtimeMs: a.mtime.getTime(),
        folder: (a.mode & constants.S_IFDIR) !== 0,
        nlink: a.nlink,
      };
    },
    async errnoOf(op) {
      try {
        await op();
        return 'none';
      } catch (err) {
        return toErrnoName(err);
      }
    },
    async flush() {
      const left = await w.uploader.drain(
        undefined,
        () => undefined,
        () => false,
      );
      if (left.files > 0) throw new Error(`uploads left: ${JSON.stringify(left)}`);
    },
    async seeRemote(check, what) {
      await tree.sync();
      if (!(await check())) throw new Error(`not seen after a sync: ${what}`);
    },
    remote: async (change) => void (await adminPost(port, TOKEN, '/changes', { user: USER.name, ...change })),
    pause: (ms) => new Promise((r) => setTimeout(r, ms)),
    async xattrs(rel) {
      const out: Record<string, string> = {};
      for (const name of await fs.listxattr(p(rel))) out[name] = (await fs.getxattr(p(rel), name)).toString();
      return out;
    },
    getxattr: async (rel, name) => (await fs.getxattr(p(rel), name)).toString(),
    setxattr: (rel, name, value) => fs.setxattr(p(rel), name, Buffer.from(value)),
    removexattr: (rel, name) => fs.removexattr(p(rel), name),
  };
});

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

describe('core cases in process (src/vfs, real server, no mount)', () => {
  CORE_CASES.forEach((c, i) => {
    it(c.name, async () => {
      const dir = `case${i}`;
      await driver.mkdir(dir);
      await c.run(driver, () => serverView(access), dir);
    });
  });
});

// A kill between the server's reply and our journal commit leaves the journal as it was before the upload. That
// instant can't be hit on purpose in process, so these tests make the upload themselves with the mount's own client
// (same X-CustomIdentity) while a handle keeps the file open (so the uploader waits), and leave the journal as it
// is: exactly the state such a kill leaves.
describe('lost replies (the journal as a kill after the server answered leaves it)', () => {
  const conflictCopies = (names: string[]): string[] => names.filter((n) => n.includes('(conflict from'));
  const copyOf = (id: ItemId): string => path.join(workDir, 'dirty', store.copyOf(id)!);
  const child = (folder: string, name: string) =>
    store.getChild(store.getChild(store.rootId()!, folder)!.id, name)!;

  it('an update the server took but we never recorded is our base, not a conflict', async () => {
    await driver.mkdir('lost1');
    await driver.writeFile('lost1/f.txt', Buffer.from('one'));
    await driver.flush();
    const fh = await w.fs.open('/lost1/f.txt', constants.O_WRONLY | constants.O_TRUNC);
    await w.fs.write(fh, Buffer.from('two'), 3, 0);
    await w.fs.flush(fh); // journaled against version 1
    const item = child('lost1', 'f.txt');
    const base = store.journal.get(item.id)!.baseEtag!;
    await api.updateFile({ id: item.id, etag: base, kind: 'document' }, { path: copyOf(item.id) });
    await w.fs.write(fh, Buffer.from('three'), 5, 0); // and the user went on editing
    await w.fs.flush(fh);
    await w.fs.release(fh);
    await driver.flush();
    const view = await serverView(access);
    expect(view.files.get('lost1/f.txt')?.bytes.toString()).toBe('three');
    expect(conflictCopies([...view.files.keys()].filter((p) => p.startsWith('lost1/')))).toEqual([]);
  });

  it('a create the server took but we never recorded is adopted, not copied under a conflict name', async () => {
    await driver.mkdir('lost2');
    await driver.flush();
    const fh = await w.fs.create('/lost2/n.txt', 0o644);
    await w.fs.write(fh, Buffer.from('new file'), 8, 0);
    await w.fs.flush(fh);
    const item = child('lost2', 'n.txt');
    const created = await api.createFile(item.parentId, 'n.txt', { path: copyOf(item.id) });
    await w.fs.release(fh);
    await driver.flush();
    const view = await serverView(access);
    expect([...view.files.keys()].filter((p) => p.startsWith('lost2/'))).toEqual(['lost2/n.txt']);
    expect(view.files.get('lost2/n.txt')?.item.id).toBe(created.id);
    expect(view.files.get('lost2/n.txt')?.bytes.toString()).toBe('new file');
    expect(child('lost2', 'n.txt').id).toBe(created.id);
  });

  it('a create whose reply was lost, then renamed and moved here, is adopted and moved: nothing stays at the old name', async () => {
    await driver.mkdir('lost3');
    await driver.mkdir('lost3/sub');
    await driver.flush();
    const fh = await w.fs.create('/lost3/a.txt', 0o644);
    await w.fs.write(fh, Buffer.from('abc'), 3, 0);
    await w.fs.flush(fh);
    const item = child('lost3', 'a.txt');
    store.journal.markSent(item.id, item.parentId, 'a.txt'); // what the uploader commits before sending
    const created = await api.createFile(item.parentId, 'a.txt', { path: copyOf(item.id) });
    await w.fs.release(fh);
    await driver.rename('lost3/a.txt', 'lost3/sub/b.txt');
    await driver.flush();
    const view = await serverView(access);
    expect([...view.files.keys()].filter((p) => p.startsWith('lost3/'))).toEqual(['lost3/sub/b.txt']);
    expect(view.files.get('lost3/sub/b.txt')?.item.id).toBe(created.id);
  });

  it('a create whose reply was lost, then deleted here, leaves nothing on the server', async () => {
    await driver.mkdir('lost4');
    await driver.flush();
    const fh = await w.fs.create('/lost4/gone.txt', 0o644);
    await w.fs.write(fh, Buffer.from('x'), 1, 0);
    await w.fs.flush(fh);
    const item = child('lost4', 'gone.txt');
    store.journal.markSent(item.id, item.parentId, 'gone.txt');
    await api.createFile(item.parentId, 'gone.txt', { path: copyOf(item.id) });
    await w.fs.release(fh);
    await driver.unlink('lost4/gone.txt');
    await driver.flush();
    const view = await serverView(access);
    expect([...view.files.keys()].filter((p) => p.startsWith('lost4/'))).toEqual([]);
  });

  it('a conflict copy whose reply was lost is not made twice', async () => {
    await driver.mkdir('lost5');
    await driver.writeFile('lost5/c.txt', Buffer.from('base'));
    await driver.flush();
    const fh = await w.fs.open('/lost5/c.txt', constants.O_WRONLY | constants.O_TRUNC);
    await w.fs.write(fh, Buffer.from('ours'), 4, 0);
    await w.fs.flush(fh);
    await driver.remote({ op: 'edit-file', path: 'lost5/c.txt', content: 'theirs' });
    const item = child('lost5', 'c.txt');
    const name = 'c (conflict from elsewhere 2026-01-01 0000).txt';
    store.journal.markSent(item.id, item.parentId, name); // keepBoth's record, then its create, then the kill
    await api.createFile(item.parentId, name, { path: copyOf(item.id) });
    await w.fs.release(fh);
    await driver.flush();
    const view = await serverView(access);
    const names = [...view.files.keys()].filter((p) => p.startsWith('lost5/'));
    expect(names.sort()).toEqual([`lost5/${name}`, 'lost5/c.txt']);
    expect(view.files.get('lost5/c.txt')?.bytes.toString()).toBe('theirs');
    expect(view.files.get(`lost5/${name}`)?.bytes.toString()).toBe('ours');
  });
});

describe('inode addressing (what an inode-based adapter uses)', () => {
  it('gives the root inode 1 and an item one stable number, kept when the server assigns its ResourceID', async () => {
    await driver.mkdir('ino');
    await driver.writeFile('ino/f.txt', Buffer.from('x'));
    expect((await w.fs.getattr('/')).ino).toBe(1);
    const before = await w.fs.getattr('/ino/f.txt');
    const localId = store.getChild(store.getChild(store.rootId()!, 'ino')!.id, 'f.txt')!.id;
    await driver.flush();
    const serverId = store.getChild(store.getChild(store.rootId()!, 'ino')!.id, 'f.txt')!.id;
    expect(serverId).not.toBe(localId); // re-keyed
    expect((await w.fs.getattr('/ino/f.txt')).ino).toBe(before.ino);
    const dir = await w.fs.lookup(1, 'ino');
    expect((await w.fs.lookup(dir.ino, 'f.txt')).ino).toBe(before.ino);
    expect(w.fs.pathOf(before.ino)).toBe('ino/f.txt');
    await driver.unlink('ino/f.txt');
    expect(() => w.fs.pathOf(before.ino)).toThrow(/no item for inode/);
  });

  it('an inode a save by rename-over replaced is stale (ESTALE: the kernel looks the name up again), not ENOENT', async () => {
    await driver.mkdir('stale');
    await driver.writeFile('stale/doc.txt', Buffer.from('v1'));
    const old = await w.fs.getattr('/stale/doc.txt');
    await driver.writeFile('stale/doc.txt.new', Buffer.from('v2'));
    await driver.rename('stale/doc.txt.new', 'stale/doc.txt');
    const now = await w.fs.getattr('/stale/doc.txt');
    expect(now.ino).not.toBe(old.ino);
    expect(await w.fs.getattrOfIno(now.ino)).toMatchObject({ size: 2 });
    expect(toErrnoName(await w.fs.getattrOfIno(old.ino).catch((e: unknown) => e))).toBe('ESTALE');
  });

  it("an open answered ESTALE because the server had a newer version gets that version on the kernel's retry, even if the server moved on again in between", async () => {
    await driver.mkdir('moving');
    await driver.flush();
    await driver.remote({ op: 'create-file', path: 'moving/m.txt', content: 'one' });
    await driver.seeRemote(async () => (await driver.readdir('moving')).includes('m.txt'), 'the create');
    await driver.remote({ op: 'edit-file', path: 'moving/m.txt', content: 'two, longer' });
    const first = await w.fs.open('/moving/m.txt', constants.O_RDONLY).catch((e: unknown) => e);
    expect(toErrnoName(first)).toBe('ESTALE'); // after syncing: the store has version two now
    expect((await w.fs.getattr('/moving/m.txt')).size).toBe('two, longer'.length); // what the kernel's lookup takes
    await driver.remote({ op: 'edit-file', path: 'moving/m.txt', content: 'three, the longest' }); // not synced
    const fh = await w.fs.open('/moving/m.txt', constants.O_RDONLY); // the kernel's retry
    const buf = Buffer.alloc(64);
    const n = await w.fs.read(fh, buf, 64, 0);
    await w.fs.release(fh);
    expect(buf.subarray(0, n).toString()).toBe('two, longer'); // the version whose size the kernel was given, whole
  });
});
