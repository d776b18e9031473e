// The FUSE adapter without a kernel: each op calls back exactly once, with the errno the vfs table gives.
import Fuse from 'fuse-native';
import { constants } from 'node:fs';
import { silentLogger } from '../../src/shared/logger';
import { createFuseOps, errnoNumber } from '../../src/fuse/fuse-ops';
import { FsError } from '../../src/vfs/errors';
import type { FileAttr, Filesystem } from '../../src/vfs/types';

const attr: FileAttr = {
  ino: 2,
  mode: constants.S_IFREG | 0o444,
  size: 42,
  nlink: 1,
  uid: 1,
  gid: 2,
  mtime: new Date(1000),
  atime: new Date(1000),
  ctime: new Date(1000),
};

// A scripted Filesystem: each method returns or throws what the test says (this is the adapter's unit test; the
// real filesystem is tested in test/vfs and through real mounts in test/e2e).
const scripted = {
  getattr: (p) => (p === '/f' ? Promise.resolve(attr) : Promise.reject(new FsError('ENOENT', p))),
  readdir: () => Promise.resolve([{ name: 'f', attr }]),
  open: () => {
    throw new FsError('EISDIR', 'sync throw');
  },
  read: (_fh, buf) => {
    buf.write('abc');
    return Promise.resolve(3);
  },
  release: () => Promise.reject(new Error('unexpected')),
  unlink: () => Promise.reject(new FsError('ENOTEMPTY', 'scripted')),
  statfs: () => Promise.reject(new FsError('EIO', 'x')),
  getxattr: (_p, name) =>
    name === 'user.spfs.state'
      ? Promise.resolve(Buffer.from('hydrated'))
      : Promise.reject(new FsError('ENODATA', name)),
  listxattr: () => Promise.resolve(['user.spfs.state', 'user.spfs.pinned']),
  setxattr: () => Promise.reject(new FsError('ENOTSUP', 'scripted')),
  refuse: (op: string, p: string) => {
    throw new FsError('EPERM', `${op} ${p}`);
  },
} as Partial<Filesystem> as Filesystem;

function call<T extends unknown[]>(invoke: (cb: (...args: T) => void) => void): Promise<T[]> {
  return new Promise((resolve) => {
    const calls: T[] = [];
    invoke((...args: T) => calls.push(args));
    setTimeout(() => resolve(calls), 20);
  });
}

describe('createFuseOps', () => {
  const ops = createFuseOps(scripted, silentLogger());

  it('maps errno names to fuse-native numbers', () => {
    expect(errnoNumber('ENOENT')).toBe(Fuse.ENOENT);
    expect(errnoNumber('EROFS')).toBe(-30);
    expect(errnoNumber('NOT_AN_ERRNO')).toBe(Fuse.EIO);
  });

  it('answers getattr with a stat, or the errno once', async () => {
    const ok = await call<[number, unknown?]>((cb) => ops.getattr!('/f', cb));
    expect(ok).toHaveLength(1);
    expect(ok[0]![0]).toBe(0);
    expect(ok[0]![1]).toMatchObject({ size: 42, mode: attr.mode, blocks: 1 });
    const missing = await call<[number, unknown?]>((cb) => ops.getattr!('/x', cb));
    expect(missing).toEqual([[Fuse.ENOENT]]);
  });

  it('passes readdir names together with stats (so the kernel gets d_type)', async () => {
    const r = await call<[number, string[]?, unknown[]?]>((cb) => ops.readdir!('/', cb));
    expect(r[0]![1]).toEqual(['f']);
    expect(r[0]![2]).toHaveLength(1);
  });

  it('turns a synchronous throw into one errno callback', async () => {
    expect(await call<[number, number?]>((cb) => ops.open!('/d', 0, cb))).toEqual([[-21]]);
  });

  it('reports read byte counts, unknown errors as EIO, typed errors as their errno, and refuses links', async () => {
    expect(await call<[number]>((cb) => ops.read!('/f', 1, Buffer.alloc(8), 8, 0, cb))).toEqual([[3]]);
    expect(await call<[number]>((cb) => ops.release!('/f', 1, cb))).toEqual([[Fuse.EIO]]);
    expect(await call<[number]>((cb) => ops.unlink!('/f', cb))).toEqual([[errnoNumber('ENOTEMPTY')]]);
    expect(await call<[number]>((cb) => ops.symlink!('/f', '/g', cb))).toEqual([[errnoNumber('EPERM')]]);
  });

  it('answers getxattr and listxattr for the caller buffer: its size on a probe, the bytes, or ERANGE', async () => {
    const get = (room: number) =>
      call<[number, Buffer?]>((cb) => ops.getxattr!('/f', 'user.spfs.state', room, cb));
    expect(await get(0)).toEqual([[0, Buffer.from('hydrated')]]);
    expect(await get(8)).toEqual([[0, Buffer.from('hydrated')]]);
    expect(await get(7)).toEqual([[errnoNumber('ERANGE')]]);
    expect(await call<[number, Buffer?]>((cb) => ops.getxattr!('/f', 'user.other', 64, cb))).toEqual([
      [errnoNumber('ENODATA')],
    ]);
    const list = Buffer.from('user.spfs.state\0user.spfs.pinned\0');
    expect(await call<[number, Buffer?]>((cb) => ops.listxattr!('/f', 0, cb))).toEqual([[0, list]]);
    expect(await call<[number, Buffer?]>((cb) => ops.listxattr!('/f', list.length - 1, cb))).toEqual([
      [errnoNumber('ERANGE')],
    ]);
  });

  it('reports ENOTSUP by the number fuse-native knows as EOPNOTSUPP', async () => {
    expect(errnoNumber('ENOTSUP')).toBe(-95);
    const r = await call<[number]>((cb) => ops.setxattr!('/f', 'user.x', Buffer.from('1'), 0, 0, cb));
    expect(r).toEqual([[-95]]);
  });
});
