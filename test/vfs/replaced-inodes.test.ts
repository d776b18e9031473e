// Inodes replaced while the kernel holds them (src/vfs/replaced-inodes.ts), in process: the core without a mount, on
// the real server over HTTP, the real SQLite store and content cache. The kernel's lookup counts are played by a
// set (`held`), as the libfuse3 adapter's KernelInodes tells the filesystem through trackKernel. test/e2e/fuse3-
// adapter.test.ts opens a replaced inode through a real mount (an O_PATH descriptor reopened by /proc/self/fd).
import { constants } from 'node:fs';
import * as path from 'node:path';
import type { Hydrator } from '../../src/sync/hydrator';
import type { TreeSync } from '../../src/sync/tree-sync';
import type { ETag, ItemId } from '../../src/shared/ids';
import { FsError } from '../../src/vfs/errors';
import type { SpfsFilesystem } from '../../src/vfs/spfs-filesystem';
import { adminPost } from '../helpers/admin-endpoint';
import { openInProcessLibrary } from '../helpers/in-process-library';
import { Harness, USER } from '../server/server-harness';

const TOKEN = `replaced-${Math.random().toString(36).slice(2)}-admin-token`;
const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
const held = new Set<number>();
let fs: SpfsFilesystem;
let tree: TreeSync;
let hydrator: Hydrator;
let port: string;

beforeAll(async () => {
  const seedDir = await harness.seed({
    'server.txt': 'the server version, read whole before the save',
    'uncached.txt': 'never read here',
    'gone.txt': 'deleted by another user',
  });
  const work = await harness.tempDir('spfs-replaced-');
  const srv = await harness.start({ dataDir: path.join(work, 'server'), seedDir, adminToken: TOKEN });
  port = new URL(srv.siteUrl).port;
  let w;
  ({ w, tree, hydrator } = await openInProcessLibrary({ work, siteUrl: srv.siteUrl, closers }));
  fs = w.fs;
  fs.trackKernel((ino) => held.has(ino));
});

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

async function errnoOf(p: () => unknown): Promise<string> {
  try {
    await p();
  } catch (err) {
    return err instanceof FsError ? err.errno : `not an FsError: ${String(err)}`;
  }
  return 'no error';
}

async function writeNew(p: string, text: string): Promise<void> {
  const fh = await fs.create(p, 0o644);
  await fs.write(fh, Buffer.from(text), Buffer.byteLength(text), 0);
  await fs.flush(fh);
  await fs.release(fh);
}

/** Opens for reading (by inode or by path), reads up to 4 KiB, closes. */
async function readThrough(open: Promise<number>): Promise<string> {
  const fh = await open;
  try {
    return await readAll(fh);
  } finally {
    await fs.release(fh);
  }
}

async function readAll(fh: number): Promise<string> {
  const buf = Buffer.alloc(4096);
  const n = await fs.read(fh, buf, buf.length, 0);
  return buf.subarray(0, n).toString();
}

const readIno = (ino: number): Promise<string> => readThrough(fs.openIno(ino, constants.O_RDONLY));
const readPath = (p: string): Promise<string> => readThrough(fs.open(p, constants.O_RDONLY));

/** Reads a server document whole and waits until its version is cached and verified (that happens after close). */
async function readWhole(p: string): Promise<string> {
  const text = await readPath(p);
  const attr = async (name: string): Promise<string> =>
    (await fs.getxattr(p, `user.spfs.${name}`)).toString();
  await hydrator.settled((await attr('resource-id')) as ItemId, (await attr('etag')) as ETag);
  return text;
}

/** Saves `p` the way editors do: a new file renamed over it. */
async function saveByRename(p: string, text: string): Promise<void> {
  await writeNew(`${p}.part`, text);
  await fs.rename(`${p}.part`, p);
}

describe('an inode replaced while the kernel holds it', () => {
  it('a local file saved over by rename still opens for reading with what it held, until the kernel forgets it', async () => {
    await writeNew('/local.txt', 'first version');
    const { ino } = await fs.getattr('/local.txt');
    held.add(ino);
    await saveByRename('/local.txt', 'second version, longer');
    expect(await readPath('/local.txt')).toBe('second version, longer');
    // What a path walk that had found the old inode gets, as on a local disk: the old bytes and the old size.
    expect(await readIno(ino)).toBe('first version');
    expect(await fs.getattrOfIno(ino)).toMatchObject({ ino, size: 'first version'.length });
    // Only for reading: the replaced file is nobody's to change.
    expect(await errnoOf(() => fs.openIno(ino, constants.O_RDWR))).toBe('ESTALE');
    // Forgotten while a handle still reads it: that handle keeps reading, nothing new opens.
    const reader = await fs.openIno(ino, constants.O_RDONLY);
    held.delete(ino);
    await fs.forgotten(ino);
    expect(await readAll(reader)).toBe('first version');
    await fs.release(reader);
    expect(fs.replacedInodes()).toBe(0);
    expect(await errnoOf(() => fs.openIno(ino, constants.O_RDONLY))).toBe('ESTALE');
    expect(await errnoOf(() => fs.getattrOfIno(ino))).toBe('ESTALE');
  });

  it('a server document saved over keeps its cached version on the replaced inode (the item keeps its id)', async () => {
    const old = await readWhole('/server.txt');
    const { ino } = await fs.getattr('/server.txt');
    held.add(ino);
    await saveByRename('/server.txt', 'saved over');
    expect((await fs.getattr('/server.txt')).ino).not.toBe(ino);
    expect(await readIno(ino)).toBe(old);
    held.delete(ino);
    await fs.forgotten(ino);
    expect(fs.replacedInodes()).toBe(0);
  });

  it('nothing is kept for an inode the kernel does not hold, nor downloaded for one whose version is not cached', async () => {
    await writeNew('/unheld.txt', 'one');
    const unheld = (await fs.getattr('/unheld.txt')).ino;
    await saveByRename('/unheld.txt', 'two');
    expect(await errnoOf(() => fs.openIno(unheld, constants.O_RDONLY))).toBe('ESTALE');
    const uncached = (await fs.getattr('/uncached.txt')).ino;
    held.add(uncached);
    await saveByRename('/uncached.txt', 'replaced before anyone read it');
    // ESTALE, as before: the kernel looks the name up again (a download now could bring the new version).
    expect(await errnoOf(() => fs.openIno(uncached, constants.O_RDONLY))).toBe('ESTALE');
    held.delete(uncached);
    expect(fs.replacedInodes()).toBe(0);
  });

  it('a document another user deletes keeps its cached version on a held inode', async () => {
    const old = await readWhole('/gone.txt');
    const { ino } = await fs.getattr('/gone.txt');
    held.add(ino);
    await adminPost(port, TOKEN, '/changes', { user: USER.name, op: 'delete', path: 'gone.txt' });
    await tree.sync();
    expect(await errnoOf(() => fs.getattr('/gone.txt'))).toBe('ENOENT');
    expect(await readIno(ino)).toBe(old);
    held.delete(ino);
    await fs.forgotten(ino);
    expect(fs.replacedInodes()).toBe(0);
  });
});
