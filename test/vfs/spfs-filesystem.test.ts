// The filesystem core without a mount: path lookup, attributes, listings, reads and refusals, on the real server,
// client, SQLite store and content cache. test/e2e repeats the same cases through a real FUSE mount.
import { constants } from 'node:fs';
import * as path from 'node:path';
import { ForegroundActivity } from '../../src/sync/foreground-activity';
import { FsError } from '../../src/vfs/errors';
import type { SpfsFilesystem } from '../../src/vfs/spfs-filesystem';
import { openInProcessLibrary } from '../helpers/in-process-library';
import { Harness } from '../server/server-harness';

const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
let fs: SpfsFilesystem;
const activity = new ForegroundActivity();
let granted: number;

const SEED = {
  'README.txt': 'hello world',
  'Docs/Report Q1.txt': 'x'.repeat(5000),
  'Docs/Nested/deep.bin': Buffer.from([0, 1, 2, 3, 255]),
  'Empty Folder': null,
  'Zürich.txt': 'ü',
};

beforeAll(async () => {
  const seedDir = await harness.seed(SEED);
  const work = await harness.tempDir('spfs-vfs-');
  granted = 10 * 1024 ** 3;
  const srv = await harness.start({
    dataDir: path.join(work, 'server'),
    seedDir,
    spaceGrantedBytes: granted,
  });
  const { w } = await openInProcessLibrary({ work, siteUrl: srv.siteUrl, closers, write: { activity } });
  fs = w.fs;
});

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

async function errnoOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err instanceof FsError ? err.errno : `not an FsError: ${String(err)}`;
  }
  return 'no error';
}

/** Whether activity.quiet() resolves within one turn of the event loop (nothing happened for a while). */
async function quietNow(): Promise<boolean> {
  let done = false;
  const quiet = activity.quiet().then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  const quietAtOnce = done;
  await quiet; // bounded (1 s at most): never leaves a timer behind
  return quietAtOnce;
}

describe('SpfsFilesystem (no mount)', () => {
  it('opens, and lookups after a pause, count as foreground activity: a background pass steps aside', async () => {
    const pauseThenUse = async (use: () => Promise<unknown>): Promise<boolean> => {
      await new Promise((r) => setTimeout(r, 1100)); // longer than the metadata idle gap
      expect(await quietNow()).toBe(true);
      await use();
      return quietNow();
    };
    expect(await pauseThenUse(async () => fs.release(await fs.open('/README.txt', constants.O_RDONLY)))).toBe(
      false,
    );
    expect(await pauseThenUse(() => fs.getattr('/README.txt'))).toBe(false);
    expect(await pauseThenUse(() => fs.readdir('/Docs'))).toBe(false);
  });

  it('describes folders and documents with their type, size and owner', async () => {
    const root = await fs.getattr('/');
    expect(root.mode & constants.S_IFMT).toBe(constants.S_IFDIR);
    const file = await fs.getattr('/Docs/Report Q1.txt');
    expect(file.mode & constants.S_IFMT).toBe(constants.S_IFREG);
    expect(file.size).toBe(5000);
    expect([file.uid, file.gid]).toEqual([process.getuid!(), process.getgid!()]);
    expect(file.mode & 0o777).toBe(0o644);
    expect(root.nlink).toBe(1); // never an undercount of its subfolders
  });

  it('lists a folder with the attributes of each child', async () => {
    const entries = await fs.readdir('/');
    expect(entries.map((e) => e.name).sort()).toEqual(['Docs', 'Empty Folder', 'README.txt', 'Zürich.txt']);
    const docs = entries.find((e) => e.name === 'Docs')!;
    expect(docs.attr.mode & constants.S_IFMT).toBe(constants.S_IFDIR);
    expect(await fs.readdir('/Empty Folder')).toEqual([]);
  });

  it('looks names up exactly: a case or NFC/NFD variant is not the item (a case-only rename must reach us)', async () => {
    expect((await fs.getattr('/Docs/Report Q1.txt')).size).toBe(5000);
    expect(await errnoOf(() => fs.getattr('/docs/REPORT q1.TXT'))).toBe('ENOENT');
    expect(await errnoOf(() => fs.getattr('/Docs/Report Q1.TXT'))).toBe('ENOENT');
    expect(await errnoOf(() => fs.getattr('/Zu\u0308rich.txt'))).toBe('ENOENT');
    expect((await fs.getattr('/Z\u00fcrich.txt')).size).toBeGreaterThan(0);
  });

  it('answers ENOENT, ENOTDIR and EISDIR where POSIX does', async () => {
    expect(await errnoOf(() => fs.getattr('/nope'))).toBe('ENOENT');
    expect(await errnoOf(() => fs.getattr('/README.txt/child'))).toBe('ENOTDIR');
    expect(await errnoOf(() => fs.readdir('/README.txt'))).toBe('ENOTDIR');
    expect(await errnoOf(fs.open('/Docs', constants.O_RDONLY))).toBe('EISDIR');
  });

  it('reads the bytes of a document, 0 at end of file, and EBADF after release', async () => {
    const fh = await fs.open('/Docs/Nested/deep.bin', constants.O_RDONLY);
    const buf = Buffer.alloc(16);
    expect(await fs.read(fh, buf, 16, 0)).toBe(5);
    expect(buf.subarray(0, 5)).toEqual(Buffer.from([0, 1, 2, 3, 255]));
    expect(await fs.read(fh, buf, 16, 5)).toBe(0);
    await fs.release(fh);
    expect(await errnoOf(() => fs.read(fh, buf, 16, 0))).toBe('EBADF');
  });

  it('reports the library quota through statfs', async () => {
    const st = await fs.statfs();
    expect(st.blocks * st.bsize).toBe(granted);
    const used = 11 + 5000 + 5 + 2;
    expect((st.blocks - st.bfree) * st.bsize).toBeGreaterThanOrEqual(used - st.bsize);
    expect(st.files).toBe(8); // 4 folders (root, Docs, Nested, Empty Folder) + 4 documents
  });

  describe('addressed by inode (the libfuse3 adapter)', () => {
    it('a lookup by parent inode finds the child, and its inode leads back to its path', async () => {
      const docs = await fs.getattr('/Docs');
      const report = await fs.lookup(docs.ino, 'Report Q1.txt');
      expect(fs.pathOf(report.ino)).toBe('Docs/Report Q1.txt');
      // An inode the filesystem does not know (any more): the kernel looks the name up again.
      expect(await errnoOf(() => fs.pathOf(987_654))).toBe('ESTALE');
    });

    it('after saving by rename-over, the inode the kernel moved (the new file) addresses the kept document', async () => {
      const before = await fs.getattr('/README.txt');
      const reader = await fs.open('/README.txt', constants.O_RDONLY);
      const fh = await fs.create('/.README.txt.new', 0o644);
      const bytes = Buffer.from('hello again');
      await fs.write(fh, bytes, bytes.length, 0);
      await fs.release(fh);
      const moved = (await fs.getattr('/.README.txt.new')).ino;
      await fs.rename('/.README.txt.new', '/README.txt');
      expect(fs.pathOf(moved)).toBe('README.txt');
      const after = await fs.getattr(fs.pathOf(moved));
      expect(after.ino).toBe(moved);
      expect(after.size).toBe(bytes.length);
      // Replaced, as a local file's inode is: ESTALE makes the kernel look the name up again.
      expect(await errnoOf(() => fs.pathOf(before.ino))).toBe('ESTALE');
      // fstat(2) of the handle opened before the rename: the kernel asks by that inode, and gets what the handle reads.
      const buf = Buffer.alloc(64);
      const read = await fs.read(reader, buf, 64, 0);
      expect(await fs.getattrOfIno(before.ino)).toMatchObject({ ino: before.ino, size: read });
      await fs.release(reader);
      expect(await errnoOf(() => fs.getattrOfIno(before.ino))).toBe('ESTALE');
    });

    it('an open file whose name was unlinked still has attributes by handle, without a path', async () => {
      const fh = await fs.create('/Docs/scratch.tmp', 0o644);
      await fs.write(fh, Buffer.from('abc'), 3, 0);
      await fs.unlink('/Docs/scratch.tmp');
      const noPath = (): string => {
        throw new FsError('ENOENT', 'unlinked');
      };
      expect((await fs.fgetattr(fh, noPath)).size).toBe(3);
      await fs.release(fh);
    });
  });
});
