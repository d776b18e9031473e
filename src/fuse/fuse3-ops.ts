// Thin adapter from libfuse3's low-level requests (posted by native/fuse3) to the vfs Filesystem. Inode numbers are
// the core's (InodeTable: the root is 1, an item keeps its number across re-keys); the kernel's lookup counts and
// dentry names are kept in KernelInodes so that remote changes invalidate exactly what the kernel cached. Every
// request gets exactly one reply: `replied` holds the requests still owed one, a late result after a timeout or a
// shutdown is dropped. No filesystem logic lives here.
import { constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { FsError, toErrnoName } from '../vfs/errors';
import type { DirEntry, FileAttr, Filesystem } from '../vfs/types';
import {
  NOTIFY,
  OP,
  OP_NAMES,
  OPEN_FLAGS,
  STAT_FIELDS,
  type Dispatch,
  type Extra,
  type Fuse3Addon,
  type Session,
} from './fuse3-addon';
import { KernelInodes, type TouchedItem } from './kernel-inodes';
import { fitXattr, xattrList } from './xattr-reply';

const NO_BYTES = Buffer.alloc(0);

export interface Fuse3Timeouts {
  /** Kernel cache lifetime of names and attributes the change feed invalidates (seconds). */
  entryS: number;
  /** Lifetime of a cached "no such name" (seconds): kept short as a safety net for a name no announcement named. */
  negativeS: number;
  /** Per-request limits (ms): past them the caller gets ETIMEDOUT, as under fuse-native. */
  opMs: number;
  readMs: number;
}

/** setattr's `valid` bits (FUSE_SET_ATTR_*). */
const SET = { mode: 1, uid: 2, gid: 4, size: 8, atime: 16, mtime: 32, atimeNow: 128, mtimeNow: 256 } as const;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
const ROOT_INO = 1;

/** Operations that may wait on the network for content (open hydrates, truncate and flush may too). */
const SLOW_OPS = new Set<number>([OP.read, OP.open, OP.create, OP.setattr, OP.flush, OP.release, OP.fsync]);

/** One request as the addon posted it (names default to ''). */
interface Request {
  op: number;
  req: number;
  ino: number;
  fh: number;
  off: number;
  size: number;
  flags: number;
  mode: number;
  name: string;
  name2: string;
  ino2: number;
  /** Valid until the request is answered: the addon reuses a write's buffer after that. */
  data: Buffer | undefined;
  extra: Extra;
}

/**
 * An open folder. Its names are taken at the READDIR from offset 0 (not at OPENDIR): the kernel starts caching a
 * listing at that request, and a change it makes itself after that moves the folder's version it checks. `stale`: a
 * change the kernel did not make touched the folder since, so what it cached from this handle must go at its release.
 */
interface DirHandle {
  ino: number;
  entries: DirEntry[] | undefined;
  stale: boolean;
}

export class Fuse3Ops {
  readonly kernel = new KernelInodes();
  /** Requests per operation name, for `spfs status` and the request-count tests. */
  readonly counts: Record<string, number> = {};
  private readonly owed = new Map<number, NodeJS.Timeout>();
  private readonly dirs = new Map<number, DirHandle>();
  private nextDir = 1;
  /** size:mtime of each inode at its last open, for keep_cache (auto_cache: pages kept while the version is). */
  private readonly openedAs = new Map<number, string>();
  private session: Session | undefined;
  private exited: ((rc: number) => void) | undefined;

  constructor(
    private readonly fs: Filesystem,
    private readonly addon: Fuse3Addon,
    private readonly logger: Logger,
    private readonly t: Fuse3Timeouts,
  ) {
    for (const n of OP_NAMES) this.counts[n] = 0;
    fs.trackKernel((ino) => this.kernel.held(ino));
  }

  attach(session: Session, onExit: (rc: number) => void): void {
    this.session = session;
    this.exited = onExit;
  }

  /** Requests not answered yet. */
  get pending(): number {
    return this.owed.size;
  }

  /** Answers every request still owed one with EIO (shutdown: the kernel connection is gone or going). */
  abandonPending(): void {
    for (const [req, timer] of this.owed) {
      clearTimeout(timer);
      this.addon.replyErr(req, constants.errno.EIO);
    }
    this.owed.clear();
  }

  /**
   * The items a remote change touched (or the daemon changed on its own, like a conflict copy): the kernel drops
   * their attributes, pages and dentries now instead of serving them until a timeout. Runs on the addon's notify
   * thread, never inside a request.
   */
  invalidate(ids: readonly ItemId[] | 'all', folders: readonly ItemId[] = []): void {
    const s = this.session;
    if (s === undefined) return;
    const listings = folders.flatMap((id) => this.fs.knownIno(id) ?? []);
    for (const d of this.dirs.values()) if (ids === 'all' || listings.includes(d.ino)) d.stale = true;
    const items: TouchedItem[] =
      ids === 'all'
        ? [ROOT_INO, ...this.kernel.all()].map((ino) => ({ ino, now: undefined }))
        : ids.map((id) => {
            const place = this.fs.placeOf(id);
            const now = place === undefined ? undefined : { parent: place.parentIno, name: place.name };
            return { ino: this.fs.knownIno(id), now, folder: place?.folder === true };
          });
    for (const n of this.kernel.invalidations(items, listings)) {
      if (n.kind === 'inode') {
        this.openedAs.delete(n.ino);
        this.addon.notify(s, NOTIFY.inode, n.ino, 0, '');
      } else this.addon.notify(s, NOTIFY.entry, 0, n.parent, n.name);
    }
  }

  readonly dispatch: Dispatch = (
    op,
    req,
    ino,
    fh,
    off,
    size,
    flags,
    mode,
    name,
    name2,
    ino2,
    data,
    extra,
  ) => {
    const opName = OP_NAMES[op - 1] ?? 'unknown';
    this.counts[opName] = (this.counts[opName] ?? 0) + 1;
    if (op === OP.forget) {
      if (this.kernel.forget(ino, extra[5] ?? 0)) void this.fs.forgotten(ino);
      return;
    }
    if (op === OP.exit) return this.exited?.(off);
    this.owe(req, op);
    const r: Request = {
      op,
      req,
      ino,
      fh,
      off,
      size,
      flags,
      mode,
      name: name ?? '',
      name2: name2 ?? '',
      ino2,
      data: data === undefined ? undefined : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      extra,
    };
    // A handler that throws before its first await fails the request the same way as one that rejects.
    Promise.resolve()
      .then(() => this.serve(r))
      .catch((err: unknown) => this.fail(req, opName, ino, name, err));
  };

  private serve(r: Request): Promise<void> {
    const { op, req, ino, fh, off, size, flags, mode, name, name2, ino2, data, extra } = r;
    const fs = this.fs;
    switch (op) {
      case OP.lookup:
        return this.lookup(req, ino, name);
      case OP.getattr:
        return this.attrOf(ino, flags !== 0 ? fh : undefined).then((a) => this.replyAttr(req, a));
      case OP.setattr:
        return this.setattr(req, ino, flags !== 0 ? fh : undefined, extra, mode, size);
      case OP.opendir:
        return this.opendir(req, ino);
      case OP.readdir:
      case OP.readdirplus:
        return this.readdir(req, fh, off, size, op === OP.readdirplus);
      case OP.releasedir:
        return Promise.resolve(this.releasedir(req, fh));
      case OP.open:
        return this.open(req, ino, flags);
      case OP.read:
        // The reply names the descriptor holding the bytes: no buffer here, no copy through this process.
        return fs
          .readWith(fh, size, off, (fd, pos, len) => {
            if (this.settle(req)) this.addon.replyFd(req, fd, pos, len);
            return len;
          })
          .then((n) => {
            if (n === 0 && this.settle(req)) this.addon.replyBuf(req, NO_BYTES, 0);
          });
      case OP.write: {
        // Written to the local copy before the reply (the vfs write is synchronous), as the addon needs.
        const bytes = data ?? Buffer.alloc(0);
        return fs.write(fh, bytes, bytes.length, off).then((n) => {
          if (this.settle(req)) this.addon.replyWrite(req, n);
        });
      }
      case OP.flush:
        return fs.flush(fh).then(() => this.ok(req));
      case OP.release:
        return fs.release(fh).then(() => this.ok(req));
      case OP.fsync:
        return fs.fsync(fh).then(() => this.ok(req));
      case OP.create:
        return this.create(req, ino, name, mode);
      case OP.mkdir: {
        const path = this.child(ino, name);
        return fs
          .mkdir(path, mode)
          .then(() => fs.getattr(path))
          .then((a) => this.replyEntry(req, ino, name, a));
      }
      case OP.unlink:
      case OP.rmdir: {
        const path = this.child(ino, name);
        return (op === OP.unlink ? fs.unlink(path) : fs.rmdir(path)).then(() => this.ok(req));
      }
      case OP.rename:
        return this.rename(req, ino, name, ino2, name2, flags);
      case OP.statfs:
        return fs.statfs().then((s) => {
          if (!this.settle(req)) return;
          const f = [s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail, s.namemax];
          this.addon.replyStatfs(req, Float64Array.from(f));
        });
      case OP.refused:
        return Promise.resolve(fs.refuse(name2, this.child(ino, name)));
      case OP.getxattr:
        return fs.getxattr(fs.pathOf(ino), name).then((v) => this.replyXattr(req, v, size));
      case OP.listxattr:
        return fs.listxattr(fs.pathOf(ino)).then((names) => this.replyXattr(req, xattrList(names), size));
      case OP.setxattr:
        return fs.setxattr(fs.pathOf(ino), name, data ?? Buffer.alloc(0)).then(() => this.ok(req));
      case OP.removexattr:
        return fs.removexattr(fs.pathOf(ino), name).then(() => this.ok(req));
      default:
        throw new FsError('EINVAL', `operation ${op} is not served`);
    }
  }

  private async lookup(req: number, parent: number, name: string): Promise<void> {
    try {
      const a = await this.fs.lookup(parent, name);
      this.replyEntry(req, parent, name, a);
    } catch (err) {
      if (toErrnoName(err) !== 'ENOENT') throw err;
      // A cached "no such name", briefly: announced creates invalidate it sooner; the timeout covers any other.
      if (this.settle(req)) this.addon.replyEntry(req, new Float64Array(STAT_FIELDS), this.t.negativeS, 0);
    }
  }

  private async setattr(
    req: number,
    ino: number,
    fh: number | undefined,
    extra: Extra,
    mode: number,
    size: number,
  ): Promise<void> {
    const fs = this.fs;
    // Asked for only when needed: ftruncate of a file whose name was unlinked has a handle and no path.
    const path = (): string => fs.pathOf(ino);
    const valid = extra[0] ?? 0;
    if (valid & SET.size) await (fh !== undefined ? fs.ftruncate(fh, size) : fs.truncate(path(), size));
    if (valid & SET.mode) await fs.chmod(path(), mode);
    if (valid & (SET.uid | SET.gid)) await fs.chown(path(), extra[1] ?? 0, extra[2] ?? 0);
    if (valid & (SET.atime | SET.mtime | SET.atimeNow | SET.mtimeNow)) {
      const now = Date.now();
      const atime = new Date(valid & SET.atimeNow ? now : (extra[3] ?? now));
      const mtime = new Date(valid & SET.mtimeNow ? now : (extra[4] ?? now));
      // Only the time asked for changes: the other keeps the current value.
      const cur = await this.attrOf(ino, fh);
      await fs.utimens(
        path(),
        valid & (SET.atime | SET.atimeNow) ? atime : cur.atime,
        valid & (SET.mtime | SET.mtimeNow) ? mtime : cur.mtime,
      );
    }
    this.replyAttr(req, await this.attrOf(ino, fh));
  }

  private attrOf(ino: number, fh: number | undefined): Promise<FileAttr> {
    return fh !== undefined ? this.fs.fgetattr(fh, () => this.fs.pathOf(ino)) : this.fs.getattrOfIno(ino);
  }

  /**
   * The kernel keeps a folder's listing (cache_readdir, and keep_cache across opens) until a change of its own in
   * the folder, or an invalidation of the folder's inode from `invalidate`, drops it: a warm `find` or `ls -R` is
   * one OPENDIR and RELEASEDIR per folder.
   */
  private async opendir(req: number, ino: number): Promise<void> {
    const self = await this.fs.getattr(this.fs.pathOf(ino));
    if ((self.mode & fsConstants.S_IFMT) !== fsConstants.S_IFDIR)
      throw new FsError('ENOTDIR', `${ino} is not a folder`);
    const fh = this.nextDir++;
    this.dirs.set(fh, { ino, entries: undefined, stale: false });
    if (this.settle(req)) this.addon.replyOpen(req, fh, OPEN_FLAGS.keepCache | OPEN_FLAGS.cacheReaddir);
  }

  /** The folder's names now, with "." and "..": what offsets index until the next READDIR from 0. */
  private async snapshot(dir: DirHandle): Promise<DirEntry[]> {
    dir.stale = false; // before the first await: a change committed from here on marks it again
    const path = this.fs.pathOf(dir.ino);
    const listed = await this.fs.readdir(path);
    const self = await this.fs.getattr(path);
    const up = this.kernel.nameOf(dir.ino)?.parent ?? ROOT_INO;
    const dot = (n: string, i: number): DirEntry => ({ name: n, attr: { ...self, ino: i } });
    dir.entries = [dot('.', dir.ino), dot('..', up), ...listed];
    return dir.entries;
  }

  private releasedir(req: number, fh: number): void {
    const dir = this.dirs.get(fh);
    this.dirs.delete(fh);
    // A listing served from names taken before a change the kernel was told of may be in its cache now: drop it.
    if (dir?.stale === true && dir.entries !== undefined && this.session !== undefined)
      this.addon.notify(this.session, NOTIFY.inode, dir.ino, 0, '');
    this.ok(req);
  }

  /**
   * Serves entries from `off` (an index into the names taken at the READDIR from 0) that fit in `size` bytes. Each
   * entry's attributes are read now, not with the names: the kernel keeps what readdirplus tells it for 60 s and only
   * discards replies older than a change it made itself, so a size written (or a name removed) since must not come
   * back from the snapshot. An entry gone since is skipped; one whose name holds another item since (rename-over)
   * is served as that item; offsets stay indexes into the snapshot.
   */
  private async readdir(req: number, fh: number, off: number, size: number, plus: boolean): Promise<void> {
    const dir = this.dirs.get(fh);
    if (dir === undefined) throw new FsError('EBADF', `unknown folder handle ${fh}`);
    const entries = off <= 0 || dir.entries === undefined ? await this.snapshot(dir) : dir.entries;
    // An entry takes at least 24 bytes (readdir) or 152 (readdirplus), so no more than this can fit.
    const most = Math.ceil(size / (plus ? 152 : 24));
    const fresh: Array<{ e: DirEntry; at: number }> = [];
    // The folder's path once per request: each entry is then one lookup-cache hit, not a walk up the tree.
    const dirPath = this.fs.pathOf(dir.ino);
    // An empty reply means the end of the folder: entries gone since opendir must not end it early.
    for (let at = Math.max(0, off); at < entries.length && fresh.length < most; at++) {
      const e = entries[at] as DirEntry;
      if (at < 2) {
        fresh.push({ e, at }); // "." and ".."
        continue;
      }
      const now = await this.fs
        .getattr(dirPath === '' ? e.name : `${dirPath}/${e.name}`)
        .catch(() => undefined);
      // A name saved over by rename since opendir holds another inode now: list it with that one (the kernel updates
      // its entry), never leave the name out of the listing.
      if (now !== undefined) fresh.push({ e: { name: e.name, attr: now }, at });
    }
    const stats = new Float64Array(fresh.length * STAT_FIELDS);
    fresh.forEach(({ e, at }, i) => {
      // "." and "..": no entry for the kernel's cache, so no lookup reference either.
      writeStat(stats, i * STAT_FIELDS, e.attr, plus && at < 2 ? 0 : e.attr.ino);
    });
    if (!this.settle(req)) return;
    const names = fresh.map(({ e }) => e.name);
    const offsets = Float64Array.from(fresh, ({ at }) => at + 1);
    const t = this.t.entryS;
    const added = this.addon.replyDirents(req, size, offsets, names, stats, plus ? 1 : 0, t, t);
    if (!plus) return;
    for (const { e, at } of fresh.slice(0, added))
      if (at >= 2) this.kernel.looked(e.attr.ino, dir.ino, e.name);
  }

  private async open(req: number, ino: number, flags: number): Promise<void> {
    const fh = await this.fs.openIno(ino, flags);
    let a: FileAttr;
    try {
      a = await this.fs.fgetattr(fh, () => this.fs.pathOf(ino));
    } catch (err) {
      await this.fs.release(fh);
      throw err;
    }
    if (!this.settle(req)) return void this.fs.release(fh);
    const version = `${a.size}:${a.mtime.getTime()}`;
    const keep = this.openedAs.get(ino) === version;
    this.openedAs.set(ino, version);
    this.addon.replyOpen(req, fh, keep ? OPEN_FLAGS.keepCache : 0);
  }

  private async create(req: number, parent: number, name: string, mode: number): Promise<void> {
    const path = this.child(parent, name);
    const fh = await this.fs.create(path, mode);
    const a = await this.fs.fgetattr(fh, () => path);
    if (!this.settle(req)) return void this.fs.release(fh);
    this.kernel.looked(a.ino, parent, name);
    const t = this.t.entryS;
    this.addon.replyCreate(req, statOf(a), t, t, fh, 0);
  }

  private async rename(
    req: number,
    parent: number,
    name: string,
    newParent: number,
    newName: string,
    flags: number,
  ): Promise<void> {
    const from = this.child(parent, name);
    const to = this.child(newParent, newName);
    if (flags & RENAME_EXCHANGE) throw new FsError('EINVAL', 'rename with RENAME_EXCHANGE is not supported');
    if (flags & RENAME_NOREPLACE) {
      const exists = await this.fs.getattr(to).then(
        () => true,
        () => false,
      );
      if (exists) throw new FsError('EEXIST', `rename: ${to} exists`);
    }
    await this.fs.rename(from, to);
    const moved = await this.fs.getattr(to).catch(() => undefined);
    if (moved !== undefined) this.kernel.moved(moved.ino, newParent, newName);
    this.ok(req);
  }

  private child(parent: number, name: string): string {
    const dir = this.fs.pathOf(parent);
    return dir === '' ? name : `${dir}/${name}`;
  }

  private replyEntry(req: number, parent: number, name: string, a: FileAttr): void {
    if (!this.settle(req)) return;
    this.kernel.looked(a.ino, parent, name);
    this.addon.replyEntry(req, statOf(a), this.t.entryS, this.t.entryS);
  }

  private replyAttr(req: number, a: FileAttr): void {
    if (this.settle(req)) this.addon.replyAttr(req, statOf(a), this.t.entryS);
  }

  private replyXattr(req: number, value: Buffer, room: number): void {
    const fit = fitXattr(value, room);
    if (!this.settle(req)) return;
    if (fit === 'size') this.addon.replyXattr(req, value.length);
    else this.addon.replyBuf(req, value, value.length);
  }

  private ok(req: number): void {
    if (this.settle(req)) this.addon.replyErr(req, 0);
  }

  private owe(req: number, op: number): void {
    const ms = SLOW_OPS.has(op) ? this.t.readMs : this.t.opMs;
    const timer = setTimeout(() => {
      if (!this.settle(req)) return;
      this.logger.warn({ op: OP_NAMES[op - 1] }, 'operation timed out');
      this.addon.replyErr(req, constants.errno.ETIMEDOUT);
    }, ms);
    timer.unref();
    this.owed.set(req, timer);
  }

  /** True (once) when `req` is still owed its reply: the caller sends it. */
  private settle(req: number): boolean {
    const timer = this.owed.get(req);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.owed.delete(req);
    return true;
  }

  private fail(req: number, op: string, ino: number, name: string | undefined, err: unknown): void {
    const errno = toErrnoName(err);
    if (errno === 'EIO') this.logger.warn({ op, ino, name, err }, 'operation failed with EIO');
    else this.logger.debug({ op, ino, name, errno }, 'operation failed');
    if (this.settle(req)) this.addon.replyErr(req, constants.errno[errno]);
  }
}

function writeStat(out: Float64Array, at: number, a: FileAttr, nodeid: number): void {
  out[at] = nodeid;
  out[at + 1] = a.ino;
  out[at + 2] = a.mode;
  out[at + 3] = a.nlink;
  out[at + 4] = a.uid;
  out[at + 5] = a.gid;
  out[at + 6] = a.size;
  out[at + 7] = a.atime.getTime();
  out[at + 8] = a.mtime.getTime();
  out[at + 9] = a.ctime.getTime();
}

function statOf(a: FileAttr): Float64Array {
  const out = new Float64Array(STAT_FIELDS);
  writeStat(out, 0, a, a.ino);
  return out;
}
