// Local typings for fuse-native 2.2.6 (the package ships none): only what the adapter uses.
declare module 'fuse-native' {
  namespace Fuse {
    interface FuseStat {
      mode: number;
      uid: number;
      gid: number;
      size: number;
      nlink: number;
      mtime: Date;
      atime: Date;
      ctime: Date;
      ino?: number;
      blocks?: number;
      blksize?: number;
    }
    interface FuseStatfs {
      bsize: number;
      frsize: number;
      blocks: number;
      bfree: number;
      bavail: number;
      files: number;
      ffree: number;
      favail: number;
      fsid?: number;
      flag?: number;
      namemax: number;
    }
    interface FuseOps {
      init?(cb: (err: number) => void): void;
      getattr?(path: string, cb: (err: number, stat?: FuseStat) => void): void;
      fgetattr?(path: string, fd: number, cb: (err: number, stat?: FuseStat) => void): void;
      readdir?(path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void): void;
      open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
      read?(
        path: string,
        fd: number,
        buf: Buffer,
        len: number,
        pos: number,
        cb: (bytes: number) => void,
      ): void;
      write?(
        path: string,
        fd: number,
        buf: Buffer,
        len: number,
        pos: number,
        cb: (bytes: number) => void,
      ): void;
      release?(path: string, fd: number, cb: (err: number) => void): void;
      statfs?(path: string, cb: (err: number, stat?: FuseStatfs) => void): void;
      create?(path: string, mode: number, cb: (err: number, fd?: number) => void): void;
      truncate?(path: string, size: number, cb: (err: number) => void): void;
      ftruncate?(path: string, fd: number, size: number, cb: (err: number) => void): void;
      unlink?(path: string, cb: (err: number) => void): void;
      rename?(src: string, dest: string, cb: (err: number) => void): void;
      mkdir?(path: string, mode: number, cb: (err: number) => void): void;
      rmdir?(path: string, cb: (err: number) => void): void;
      chmod?(path: string, mode: number, cb: (err: number) => void): void;
      chown?(path: string, uid: number, gid: number, cb: (err: number) => void): void;
      utimens?(path: string, atime: Date | number, mtime: Date | number, cb: (err: number) => void): void;
      flush?(path: string, fd: number, cb: (err: number) => void): void;
      fsync?(path: string, datasync: boolean, fd: number, cb: (err: number) => void): void;
      symlink?(src: string, dest: string, cb: (err: number) => void): void;
      link?(src: string, dest: string, cb: (err: number) => void): void;
      mknod?(path: string, mode: number, dev: number, cb: (err: number) => void): void;
      access?(path: string, mode: number, cb: (err: number) => void): void;
      /**
       * `room`: the caller's buffer size. fuse-native passes macOS's position here; spfs's TunedFuse (fuse/mount.ts)
       * overrides _op_getxattr to pass the size instead, and copies `value` (which fits `room`) into the buffer.
       */
      getxattr?(path: string, name: string, room: number, cb: (err: number, value?: Buffer) => void): void;
      /** As getxattr: `list` is the NUL-separated names and fits `room` (TunedFuse's _op_listxattr). */
      listxattr?(path: string, room: number, cb: (err: number, list?: Buffer) => void): void;
      setxattr?(
        path: string,
        name: string,
        value: Buffer,
        position: number,
        flags: number,
        cb: (err: number) => void,
      ): void;
      removexattr?(path: string, name: string, cb: (err: number) => void): void;
    }
    interface FuseOptions {
      force?: boolean;
      mkdir?: boolean;
      debug?: boolean;
      displayFolder?: boolean;
      autoCache?: boolean;
      kernelCache?: boolean;
      attrTimeout?: number;
      entryTimeout?: number;
      fsname?: string;
      subtype?: string;
      allowOther?: boolean;
      defaultPermissions?: boolean;
      timeout?: number | false | Record<string, number | false>;
      maxRead?: number;
    }
  }
  class Fuse {
    constructor(mnt: string, ops: Fuse.FuseOps, opts?: Fuse.FuseOptions);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    static isConfigured(cb: (err: Error | null, configured: boolean) => void): void;
    protected _fuseOptions(): string;
    protected readonly ops: Fuse.FuseOps;
    /** fuse-native's handlers for the kernel's getxattr/listxattr: `signal(result, buffer)` answers. */
    protected _op_getxattr(
      signal: (res: number, buf: ArrayBufferLike) => void,
      path: string,
      name: string,
      valueBuf: Buffer,
      position: number,
    ): void;
    protected _op_listxattr(
      signal: (res: number, buf: ArrayBufferLike) => void,
      path: string,
      listBuf: Buffer,
    ): void;
    static readonly ENOENT: number;
    static readonly EIO: number;
    [errno: string]: unknown;
  }
  export = Fuse;
}
