// Thin adapter from fuse-native callbacks to a vfs Filesystem: each op runs through run(), which calls back exactly
// once and maps errors through vfs/errors.ts. No filesystem logic lives here.
import Fuse from 'fuse-native';
type FuseOps = Fuse.FuseOps;
type FuseStat = Fuse.FuseStat;
import type { Logger } from '../shared/logger';
import { toErrnoName } from '../vfs/errors';
import type { FileAttr, Filesystem } from '../vfs/types';

export function errnoNumber(name: string): number {
  const n = (Fuse as unknown as Record<string, unknown>)[name];
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
        () => Promise.resolve(fs.refuseWrite(op, path)),
        () => cb(0),
        cb,
      );
    };

  return {
    init: (cb) => cb(0),
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
    create: refuse('create'),
    write: (path, _fd, _buf, _len, _pos, cb) =>
      run(
        'write',
        path,
        () => Promise.resolve(fs.refuseWrite('write', path)),
        () => cb(0),
        (e) => cb(e),
      ),
    truncate: refuse('truncate'),
    ftruncate: (path, _fd, _size, cb) =>
      run(
        'ftruncate',
        path,
        () => Promise.resolve(fs.refuseWrite('ftruncate', path)),
        () => cb(0),
        cb,
      ),
    unlink: refuse('unlink'),
    rename: refuse('rename'),
    mkdir: refuse('mkdir'),
    rmdir: refuse('rmdir'),
    chmod: refuse('chmod'),
    chown: refuse('chown'),
    utimens: refuse('utimens'),
    symlink: refuse('symlink'),
    link: refuse('link'),
    mknod: refuse('mknod'),
  };
}
