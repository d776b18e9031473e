// Loads spfs's own libfuse3 low-level binding (native/fuse3, built at install by scripts/build-addon.sh) and types
// what it exports. The addon is optional: without it (no compiler, no libfuse3-dev) the mount runs on fuse-native.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Operation codes the addon posts (enum op in spfs_fuse3.c). */
export const OP = {
  init: 1,
  lookup: 2,
  forget: 3,
  getattr: 4,
  setattr: 5,
  opendir: 6,
  readdir: 7,
  readdirplus: 8,
  releasedir: 9,
  open: 10,
  read: 11,
  write: 12,
  flush: 13,
  release: 14,
  fsync: 15,
  create: 16,
  mkdir: 17,
  unlink: 18,
  rmdir: 19,
  rename: 20,
  statfs: 21,
  refused: 22,
  exit: 23,
  getxattr: 24,
  listxattr: 25,
  setxattr: 26,
  removexattr: 27,
} as const;
export type OpName = keyof typeof OP;
export const OP_NAMES: readonly OpName[] = Object.keys(OP) as OpName[];

/** Notification kinds (enum notify_kind). */
export const NOTIFY = { inode: 1, entry: 2, delete: 3 } as const;

/** Bits of replyOpen/replyCreate's flags. */
export const OPEN_FLAGS = { directIo: 1, keepCache: 2, nonSeekable: 4, cacheReaddir: 8 } as const;

/** Per-entry stat fields in the Float64Arrays the reply functions take. */
export const STAT_FIELDS = 10; // nodeid, st_ino, mode, nlink, uid, gid, size, atime ms, mtime ms, ctime ms

/** [valid, uid, gid, atimeMs, mtimeMs, nlookup, datasync, pid] */
export type Extra = readonly number[];

export type Dispatch = (
  op: number,
  req: number,
  ino: number,
  fh: number,
  off: number,
  size: number,
  flags: number,
  mode: number,
  name: string | undefined,
  name2: string | undefined,
  ino2: number,
  /** A write's or setxattr's bytes. A write's are a view of a buffer the addon reuses once the request is answered. */
  data: Uint8Array | undefined,
  extra: Extra,
) => void;

/** An opaque session handle. */
export type Session = { readonly __session: unique symbol };

export interface Fuse3Addon {
  readonly libfuseVersion: string;
  mount(
    mountpoint: string,
    options: string,
    maxWrite: number,
    maxReadahead: number,
    maxBackground: number,
    dispatch: Dispatch,
  ): Session;
  destroy(s: Session): void;
  exit(s: Session): void;
  notify(s: Session, kind: number, ino: number, parent: number, name: string): void;
  replyErr(req: number, errno: number): number;
  replyEntry(req: number, stat: Float64Array, entryTimeout: number, attrTimeout: number): number;
  replyCreate(
    req: number,
    stat: Float64Array,
    entryTimeout: number,
    attrTimeout: number,
    fh: number,
    flags: number,
  ): number;
  replyAttr(req: number, stat: Float64Array, attrTimeout: number): number;
  replyOpen(req: number, fh: number, flags: number): number;
  replyWrite(req: number, count: number): number;
  replyBuf(req: number, buf: Buffer, length: number): number;
  /** A read's data: `length` bytes of `fd` at `position` (fewer at its end), spliced by the kernel where it can. */
  replyFd(req: number, fd: number, position: number, length: number): number;
  replyStatfs(req: number, stats: Float64Array): number;
  /** The size a getxattr/listxattr size probe asked for. */
  replyXattr(req: number, size: number): number;
  replyDirents(
    req: number,
    size: number,
    /** Where a readdir resumes after each entry. */
    offsets: Float64Array,
    names: readonly string[],
    stats: Float64Array,
    plus: number,
    entryTimeout: number,
    attrTimeout: number,
  ): number;
}

/**
 * Where the built addon lives, from this file in src/fuse (ts-jest) or dist/fuse (the build). SPFS_FUSE3_ADDON names
 * another build of it: `npm run reliability` runs mounts on one compiled with AddressSanitizer.
 */
export const ADDON_PATH =
  process.env.SPFS_FUSE3_ADDON ??
  join(__dirname, '..', '..', 'native', 'fuse3', 'build', 'Release', 'spfs_fuse3.node');

let loaded: Fuse3Addon | Error | undefined;

/** The addon, or the reason it can't be used (not built, or it fails to load: libfuse3 missing at run time). */
export function loadFuse3(): Fuse3Addon | Error {
  if (loaded !== undefined) return loaded;
  if (!existsSync(ADDON_PATH)) {
    loaded = new Error(
      'the libfuse3 addon is not built (scripts/build-addon.sh; needs libfuse3-dev and a compiler)',
    );
    return loaded;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a native addon is loaded by require
    loaded = require(ADDON_PATH) as Fuse3Addon;
  } catch (err) {
    loaded = err instanceof Error ? err : new Error(String(err));
  }
  return loaded;
}
