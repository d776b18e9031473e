// The filesystem's contract with its FUSE adapter: path-based operations, plain data in and out, typed errors
// (mapped to errno only in vfs/errors.ts).
import type { ItemId } from '../shared/ids';
import type { ByteSink } from '../sync/hydrator';

export interface FileAttr {
  /** Stable inode number (inode-table.ts): the root is 1, an item keeps its number across re-keys. */
  ino: number;
  /** st_mode including the type bits (S_IFDIR / S_IFREG). */
  mode: number;
  size: number;
  nlink: number;
  uid: number;
  gid: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
}

export interface DirEntry {
  name: string;
  attr: FileAttr;
}

export interface FsStats {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

/** Keeps items on this device (issue 17). The pin manager (src/sync/pin-manager.ts, another helper's branch) implements it. */
export interface PinControl {
  setPinned(id: ItemId, pinned: boolean): void;
}

/** What the uploader says about an item right now (user.spfs.state `uploading`); the Uploader owns that fact. */
export interface UploadActivity {
  isSending(id: ItemId): boolean;
}

/** The operations a mount serves. Every method may throw a typed error; the adapter maps it through errors.ts. */
export interface Filesystem {
  getattr(path: string): Promise<FileAttr>;
  /** The open file's attributes, also after its name was unlinked; `path` is asked for only if `fh` is unknown. */
  fgetattr(fh: number, path: () => string): Promise<FileAttr>;
  readdir(path: string): Promise<DirEntry[]>;
  /** Returns a file handle number. `flags` are the open(2) flags (O_TRUNC arrives here: atomic_o_trunc). */
  open(path: string, flags: number): Promise<number>;
  /** Creates and opens a new empty document; returns its handle. */
  create(path: string, mode: number): Promise<number>;
  /** Reads into `buffer` (length `length`) from `position`; returns bytes read (0 at EOF). */
  read(fh: number, buffer: Buffer, length: number, position: number): Promise<number>;
  /** The same bytes handed to `take` where they lie (hydrator.ts, ByteSink): the libfuse3 adapter splices them. */
  readWith(fh: number, length: number, position: number, take: ByteSink): Promise<number>;
  write(fh: number, buffer: Buffer, length: number, position: number): Promise<number>;
  truncate(path: string, size: number): Promise<void>;
  ftruncate(fh: number, size: number): Promise<void>;
  /** close(2) waits for this: content fsynced and the upload journal committed. */
  flush(fh: number): Promise<void>;
  fsync(fh: number): Promise<void>;
  release(fh: number): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdir(path: string, mode: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  utimens(path: string, atime: Date, mtime: Date): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  statfs(): Promise<FsStats>;
  /** Inode addressing (for an inode-based adapter): the entry `name` in folder `parentIno`. */
  lookup(parentIno: number, name: string): Promise<FileAttr>;
  /**
   * Attributes by inode (the kernel's GETATTR, which carries no handle for fstat(2)): an item unlinked while still
   * open, or replaced by a rename-over while open, is answered from a handle opened on that inode, as a local disk
   * answers fstat of an unlinked or replaced file.
   */
  getattrOfIno(ino: number): Promise<FileAttr>;
  /** The library-relative path of an inode the kernel holds (ESTALE once the item is gone or replaced). */
  pathOf(ino: number): string;
  /**
   * Opens an inode the kernel holds; one replaced while held (a rename over it, a remote delete) opens for reading
   * with the content it had, as a local disk opens a replaced file a path walk had already found.
   */
  openIno(ino: number, flags: number): Promise<number>;
  /** Tells which inode numbers the kernel holds (its lookup counts): only those are kept when replaced. */
  trackKernel(held: (ino: number) => boolean): void;
  /** The kernel forgot `ino` (its lookup count reached zero). */
  forgotten(ino: number): Promise<void>;
  /** The inode number an item was given, if it was given one (no number is assigned here). */
  knownIno(id: ItemId): number | undefined;
  /** Where an item is now, by its folder's inode number (undefined if the folder was never given one). */
  placeOf(id: ItemId): { parentIno: number; name: string; folder: boolean } | undefined;
  /** Names of the item's extended attributes (user.spfs.*, docs/SEMANTICS.md); from SQLite and memory only. */
  listxattr(path: string): Promise<string[]>;
  /** One attribute's value: ENODATA when the item has no such attribute (or the name is not spfs's). */
  getxattr(path: string, name: string): Promise<Buffer>;
  /** `user.spfs.pinned` = `1` pins, `0` unpins (else EINVAL); any other name is ENOTSUP. */
  setxattr(path: string, name: string, value: Buffer): Promise<void>;
  /** Removing `user.spfs.pinned` unpins; any other name is ENOTSUP. */
  removexattr(path: string, name: string): Promise<void>;
  /** Operations SharePoint has no notion of (symlink, link, mknod): EPERM. */
  refuse(op: string, path: string): never;
}
