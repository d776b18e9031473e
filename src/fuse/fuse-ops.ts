// Thin adapter from fuse-native callbacks to a vfs Filesystem: each op runs through run(), which calls back exactly
// once and maps errors through vfs/errors.ts. No filesystem logic lives here.
import Fuse from 'fuse-native';
type FuseOps = Fuse.FuseOps;
type FuseStat = Fuse.FuseStat;
import type { Logger } from '../shared/logger';
import { toErrnoName } from '../vfs/errors';
import type { FileAttr, Filesystem } from '../vfs/types';
import { XATTR_PREFIX } from '../vfs/xattrs';
import { fitXattr, xattrList } from './xattr-reply';

/** Names fuse-native spells otherwise (on Linux ENOTSUP and EOPNOTSUPP are the same number). */
const FUSE_NATIVE_NAMES: Readonly<Record<string, string>> = { ENOTSUP: 'EOPNOTSUPP' };

export function errnoNumber(name: string): number {
  const n = (Fuse as unknown as Record<string, unknown>)[FUSE_NATIVE_NAMES[name] ?? name];
  return typeof n === 'number' ? n : Fuse.EIO;
}

function toStat(a: FileAttr): FuseStat {
  return {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    nlink: a.nlink,
    mtime: a.mtime,
    atime: a.atime,
    ctime: a.ctime,
    blocks: Math.ceil(a.size / 512),
    blksize: 4096,
  };
}

export function createFuseOps(fs: Filesystem, logger: Logger): FuseOps {
  /** Runs one op; `ok` receives the result, any throw becomes a negative errno. Exactly one callback. */
  function run<T>(
    op: string,
    path: string,
    work: () => Promise<T>,
    ok: (v: T) => void,
    fail: (errno: number) => void,
  ): void {
    // The executor turns a synchronous throw into a rejection, so every path ends in exactly one callback.
    const p = new Promise<T>((resolve) => resolve(work()));
    p.then(ok, (err: unknown) => {
      const name = toErrnoName(err);
      if (name === 'EIO') logger.warn({ op, path, err }, 'operation failed with EIO');
      else logger.debug({ op, path, errno: name }, 'operation failed');
      fail(errnoNumber(name));
    });
  }

  const refuse =
    (op: string) =>
    (path: string, ...rest: unknown[]): void => {
      const cb = rest[rest.length - 1] as (err: number) => void;
      run(
        op,
        path,
        () => Promise.resolve(fs.refuse(op, path)),
        () => cb(0),
        cb,
      );
    };

  const ops: FuseOps = {
    init: (cb) => cb(0),
    symlink: refuse('symlink'),
    link: refuse('link'),
    mknod: refuse('mknod'),
    getattr: (path, cb) =>
      run(
        'getattr',
        path,
        () => fs.getattr(path),
        (a) => cb(0, toStat(a)),
        (e) => cb(e),
      ),
    readdir: (path, cb) =>
      run(
        'readdir',
        path,
        () => fs.readdir(path),
        (entries) =>
          cb(
            0,
            entries.map((e) => e.name),
            entries.map((e) => toStat(e.attr)),
          ),
        (e) => cb(e),
      ),
    open: (path, flags, cb) =>
      run(
        'open',
        path,
        () => fs.open(path, flags),
        (fh) => cb(0, fh),
        (e) => cb(e),
      ),
    read: (path, fd, buf, len, pos, cb) =>
      run(
        'read',
        path,
        () => fs.read(fd, buf, len, pos),
        (n) => cb(n),
        (e) => cb(e),
      ),
    release: (path, fd, cb) =>
      run(
        'release',
        path,
        () => fs.release(fd),
        () => cb(0),
        (e) => cb(e),
      ),
    statfs: (path, cb) =>
      run(
        'statfs',
        path,
        () => fs.statfs(),
        (s) => cb(0, s),
        (e) => cb(e),
      ),
  };
  const w = fs;
  const done = (cb: (err: number) => void) => () => cb(0);
  return {
    ...ops,
    fgetattr: (path, fd, cb) =>
      run(
        'fgetattr',
        path,
        () => w.fgetattr(fd, () => path),
        (a) => cb(0, toStat(a)),
        (e) => cb(e),
      ),
    create: (path, mode, cb) =>
      run(
        'create',
        path,
        () => w.create(path, mode),
        (fh) => cb(0, fh),
        (e) => cb(e),
      ),
    write: (path, fd, buf, len, pos, cb) =>
      run(
        'write',
        path,
        () => w.write(fd, buf, len, pos),
        (n) => cb(n),
        (e) => cb(e),
      ),
    truncate: (path, size, cb) => run('truncate', path, () => w.truncate(path, size), done(cb), cb),
    ftruncate: (path, fd, size, cb) => run('ftruncate', path, () => w.ftruncate(fd, size), done(cb), cb),
    flush: (path, fd, cb) => run('flush', path, () => w.flush(fd), done(cb), cb),
    fsync: (path, _datasync, fd, cb) => run('fsync', path, () => w.fsync(fd), done(cb), cb),
    unlink: (path, cb) => run('unlink', path, () => w.unlink(path), done(cb), cb),
    rename: (src, dest, cb) => run('rename', src, () => w.rename(src, dest), done(cb), cb),
    mkdir: (path, mode, cb) => run('mkdir', path, () => w.mkdir(path, mode), done(cb), cb),
    rmdir: (path, cb) => run('rmdir', path, () => w.rmdir(path), done(cb), cb),
    chmod: (path, mode, cb) => run('chmod', path, () => w.chmod(path, mode), done(cb), cb),
    chown: (path, uid, gid, cb) => run('chown', path, () => w.chown(path, uid, gid), done(cb), cb),
    // `room` is the caller's buffer size (TunedFuse in mount.ts passes it): a value that does not fit is ERANGE.
    getxattr: (path, name, room, cb) =>
      // The kernel asks for security.capability before every write(): answered at once, without a promise.
      !name.startsWith(XATTR_PREFIX)
        ? cb(errnoNumber('ENODATA'))
        : run(
            'getxattr',
            path,
            () => w.getxattr(path, name).then((v) => fits(v, room)),
            (v) => cb(0, v),
            (e) => cb(e),
          ),
    listxattr: (path, room, cb) =>
      run(
        'listxattr',
        path,
        () => w.listxattr(path).then((names) => fits(xattrList(names), room)),
        (list) => cb(0, list),
        (e) => cb(e),
      ),
    // The value lives in libfuse's buffer only until this op answers: copied first.
    setxattr: (path, name, value, _position, _flags, cb) => {
      const copy = Buffer.from(value);
      run('setxattr', path, () => w.setxattr(path, name, copy), done(cb), cb);
    },
    removexattr: (path, name, cb) => run('removexattr', path, () => w.removexattr(path, name), done(cb), cb),
    // fuse-native 2.2.6 passes the access time in both time arguments; spfs keeps that value as mtime.
    utimens: (path, atime, mtime, cb) =>
      run('utimens', path, () => w.utimens(path, toDate(atime), toDate(mtime)), done(cb), cb),
  };
}

/** The value, when it fits the caller's `room` bytes (or `room` is 0: a size probe); ERANGE otherwise. */
function fits(value: Buffer, room: number): Buffer {
  fitXattr(value, room);
  return value;
}

function toDate(t: Date | number): Date {
  return t instanceof Date ? t : new Date(t);
}
