// The filesystem itself, without FUSE: one handle table and one resolver over the metadata store. Lookups,
// attributes and listings come from SQLite (folders whose documents are not known yet are listed on demand); reads
// of a server version hydrate it; a document with local changes is read and written through its local copy
// (local-files.ts); the modifying operations are write-ops.ts on items this file resolved once.
import { constants } from 'node:fs';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { Clock } from '../shared/clock';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { splitPath } from '../shared/names';
import type { FolderLister } from '../sync/folder-lister';
import type { ForegroundActivity } from '../sync/foreground-activity';
import { copyInto, settledNow, type ByteSink, type ContentHandle, type Hydrator } from '../sync/hydrator';
import type { CurrentVersion } from './current-version';
import { FsError, ReadOnlyMountError } from './errors';
import { HandleTable } from './handle-table';
import { InodeTable } from './inode-table';
import type { LocalFiles } from './local-files';
import { DEFAULT_LOOKUP_ENTRIES, LookupCache, type CachedEntry } from './lookup-cache';
import { ReplacedInodes } from './replaced-inodes';
import type { DirEntry, FileAttr, Filesystem, FsStats, PinControl, UploadActivity } from './types';
import type { OpenFile, Slot, WriteOps } from './write-ops';
import { ItemXattrs, XATTR_PREFIX } from './xattrs';

const BLOCK_SIZE = 4096;
const NAME_MAX_BYTES = 255;
// Modes come from the mount's umask (docs/SEMANTICS.md): chmod/chown are accepted and change nothing.
const DEFAULT_UMASK = 0o022;
const WRITE_ACCESS = constants.O_WRONLY | constants.O_RDWR;

export interface FilesystemOptions {
  store: MetadataStore;
  hydrator: Hydrator;
  /** Opens the server's current version of a document (ESTALE when it changed since the last sync). */
  current: CurrentVersion;
  local: LocalFiles;
  ops: WriteOps;
  logger: Logger;
  clock: Clock;
  /** Opens, reads and lookups are noted here (the background pass steps aside for them). */
  activity: ForegroundActivity;
  /** Owner, mode bits and read-only-ness of everything shown (the mount's uid, gid, umask, ro options). */
  uid: number;
  gid: number;
  /** Files show 0666 & ~umask, folders 0777 & ~umask. Default 022. */
  umask?: number;
  /** Every change is refused with EROFS (`-o ro`). */
  readOnly?: boolean;
  /** Lists folders whose documents are not known yet (first full pass running); without it all are complete. */
  lister?: FolderLister;
  /** Change counter of the metadata database: enables the in-memory lookup cache (lookup-cache.ts). */
  storeVersion?: () => number;
  /** Lookup-cache entries kept at most. */
  lookupEntries?: number;
  /** Pins and unpins (setxattr user.spfs.pinned). */
  pins: PinControl;
  /** Whether an upload request for an item is in flight (user.spfs.state `uploading`). */
  uploads: UploadActivity;
  /** The library's web address, for user.spfs.url (none: the attribute is absent). */
  libraryWebUrl?: string;
  /** Told of every open of a document for reading: fetches the folder's next small files ahead. */
  prefetch?: { noteOpen(item: StoredItem): void };
}

export type FileAttributes = Pick<FilesystemOptions, 'uid' | 'gid' | 'umask' | 'readOnly'>;

/** A handle on a server version (hydrating reads), on what a replaced inode kept (`replaced`), or on a local copy. */
type Handle = { item: StoredItem; content: ContentHandle; replaced?: true } | OpenFile;

/** What a replaced inode will keep, taken before the replacement: registered once it happened, else closed. */
interface Keeping {
  done(): void;
  abandon(): void;
}

export class SpfsFilesystem implements Filesystem {
  private readonly handles = new HandleTable<Handle>();
  /** The inode each handle was opened on: fstat asks by inode, also after a rename-over dropped that number. */
  private readonly handleInos = new Map<number, number>();
  private readonly lookups: LookupCache | undefined;
  /** Inode numbers of the items seen (attrOf assigns them); followed through re-keys by rekeyed(). */
  private readonly inodes: InodeTable;
  private readonly dirMode: number;
  private readonly fileMode: number;
  private readonly xattrs: ItemXattrs;
  private readonly replaced = new ReplacedInodes();
  /** Whether the kernel holds an inode number (libfuse3: its lookup count); path-based adapters never do. */
  private held: (ino: number) => boolean = () => false;

  constructor(private readonly o: FilesystemOptions) {
    const umask = o.umask ?? DEFAULT_UMASK;
    this.dirMode = constants.S_IFDIR | (0o777 & ~umask);
    this.fileMode = constants.S_IFREG | (0o666 & ~umask);
    this.inodes = new InodeTable(() => o.store.rootId());
    this.xattrs = new ItemXattrs({
      store: o.store,
      hasLocalCopy: (id) => o.local.hasCopy(id),
      uploads: o.uploads,
      pins: o.pins,
      ...(o.libraryWebUrl !== undefined ? { libraryWebUrl: o.libraryWebUrl } : {}),
    });
    if (o.storeVersion !== undefined)
      this.lookups = new LookupCache({
        maxEntries: o.lookupEntries ?? DEFAULT_LOOKUP_ENTRIES,
        version: o.storeVersion,
      });
  }

  async getattr(path: string): Promise<FileAttr> {
    this.o.activity.noteMetadata();
    const found = this.resolve(path);
    const entry = found instanceof Promise ? await found : found;
    return this.withLocal(entry.item, entry.attr);
  }

  async fgetattr(fh: number, path: () => string): Promise<FileAttr> {
    const h = this.handles.get(fh);
    if (h === undefined) return this.getattr(path());
    return this.handleAttr(fh, h);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    this.o.activity.noteMetadata();
    const dir = await this.item(path);
    if (dir.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder: ${path}`);
    await this.listed(dir);
    this.lookups?.revalidate();
    return this.o.store.listChildren(dir.id).map((child) => {
      const entry = { item: child, attr: this.attrOf(child) };
      // ls -l stats every entry right after listing it: answer those from memory.
      this.lookups?.set(dir.id, child.name, entry);
      return { name: child.name, attr: this.withLocal(child, entry.attr) };
    });
  }

  async open(path: string, flags: number): Promise<number> {
    this.o.activity.noteContent();
    const writer = (flags & WRITE_ACCESS) !== 0;
    if (writer) this.refuseIfReadOnly('open for writing', path);
    const item = await this.item(path);
    if (item.kind === 'folder') throw new FsError('EISDIR', `is a folder: ${path}`);
    if (writer || this.o.local.hasCopy(item.id)) {
      const truncate = writer && (flags & constants.O_TRUNC) !== 0;
      const append = (flags & constants.O_APPEND) !== 0;
      return this.addHandle(await this.o.ops.openLocal(item, writer, truncate, append));
    }
    const content = await this.o.current.open(item, path);
    this.o.activity.noteContent(); // the open may have waited on the server: its reads come now
    this.o.prefetch?.noteOpen(item);
    return this.addHandle({ item, content });
  }

  async create(path: string, _mode?: number): Promise<number> {
    this.refuseIfReadOnly('create', path);
    return this.addHandle(await this.o.ops.create(await this.slot(path)));
  }

  private addHandle(h: Handle): number {
    const fh = this.handles.add(h);
    this.handleInos.set(fh, this.inodes.inoOf(h.item.id));
    return fh;
  }

  read(fh: number, buffer: Buffer, length: number, position: number): Promise<number> {
    return this.readWith(fh, length, position, copyInto(buffer));
  }

  readWith(fh: number, length: number, position: number, take: ByteSink): Promise<number> {
    const h = this.handle(fh);
    // A handle on the server version reads what another handle wrote meanwhile (same item, local copy open).
    const local = this.localOf(h);
    if (local !== undefined) {
      if (position >= local.size) return Promise.resolve(0);
      return settledNow(() => take(local.fd, position, Math.min(length, local.size - position)));
    }
    if (!('content' in h) || position >= h.item.size) return Promise.resolve(0);
    this.o.activity.noteContent();
    return h.content.readWith(Math.min(length, h.item.size - position), position, take);
  }

  write(fh: number, buffer: Buffer, length: number, position: number): Promise<number> {
    if (this.o.readOnly) return Promise.reject(new ReadOnlyMountError('write', `handle ${fh}`));
    return Promise.resolve(this.o.ops.write(this.localHandle(fh), buffer, length, position));
  }

  async truncate(path: string, size: number): Promise<void> {
    this.refuseIfReadOnly('truncate', path);
    await this.o.ops.truncate(await this.item(path), size, path);
  }

  ftruncate(fh: number, size: number): Promise<void> {
    if (this.o.readOnly) return Promise.reject(new ReadOnlyMountError('truncate', `handle ${fh}`));
    this.o.ops.ftruncate(this.localHandle(fh), size);
    return Promise.resolve();
  }

  async flush(fh: number): Promise<void> {
    const h = this.handles.get(fh);
    if (h !== undefined && 'local' in h) await this.o.ops.flush(h);
  }

  fsync(fh: number): Promise<void> {
    return this.flush(fh);
  }

  async release(fh: number): Promise<void> {
    const h = this.handles.delete(fh);
    this.handleInos.delete(fh);
    if (h === undefined) return;
    if ('local' in h) await this.o.ops.release(h);
    else await h.content.close();
  }

  async unlink(path: string): Promise<void> {
    this.refuseIfReadOnly('unlink', path);
    this.o.ops.unlink(await this.item(path), path);
  }

  async rename(from: string, to: string): Promise<void> {
    this.refuseIfReadOnly('rename', from);
    const src = await this.item(from);
    const slot = await this.slot(to);
    const target = slot.existing;
    // The target's inode is replaced either way (its item goes, or takes the source's number below).
    const keeping = target !== undefined && target.id !== src.id ? this.keepReplaced(target) : undefined;
    try {
      this.o.ops.rename(src, slot, from);
    } catch (err) {
      keeping?.abandon();
      throw err;
    }
    keeping?.done();
    // Saving by rename-over keeps the target's item and drops the source's: the kernel now knows the name by the
    // source's inode (the target's was replaced), so the target's item takes that number.
    const { store } = this.o;
    if (target !== undefined && store.getItem(src.id) === undefined && store.getItem(target.id) !== undefined)
      this.inodes.takeOver(src.id, target.id);
  }

  async mkdir(path: string, _mode?: number): Promise<void> {
    this.refuseIfReadOnly('mkdir', path);
    this.o.ops.mkdir(await this.slot(path));
  }

  async rmdir(path: string): Promise<void> {
    this.refuseIfReadOnly('rmdir', path);
    const dir = await this.item(path);
    if (dir.kind === 'folder') await this.listed(dir);
    this.o.ops.rmdir(dir, path);
  }

  async utimens(path: string, _atime: Date, mtime: Date): Promise<void> {
    this.refuseIfReadOnly('utimens', path);
    this.o.ops.utimens(await this.item(path), mtime);
  }

  async chmod(path: string): Promise<void> {
    this.refuseIfReadOnly('chmod', path);
    await this.item(path);
  }

  async chown(path: string): Promise<void> {
    this.refuseIfReadOnly('chown', path);
    await this.item(path);
  }

  statfs(): Promise<FsStats> {
    const { store } = this.o;
    const quota = store.getSyncState()?.quota;
    const granted = quota?.granted ?? 0;
    // Bytes waiting for upload will take server space: report them as used already.
    const used = (quota?.used ?? 0) + store.journal.totals().bytes;
    const free = Math.max(0, Math.floor((granted - used) / BLOCK_SIZE));
    return Promise.resolve({
      bsize: BLOCK_SIZE,
      frsize: BLOCK_SIZE,
      blocks: Math.floor(granted / BLOCK_SIZE),
      bfree: free,
      bavail: free,
      files: store.countItems(),
      ffree: 0,
      favail: 0,
      namemax: NAME_MAX_BYTES,
    });
  }

  async listxattr(path: string): Promise<string[]> {
    return this.xattrs.names(await this.item(path));
  }

  async getxattr(path: string, name: string): Promise<Buffer> {
    // The kernel asks for security.capability before writes: answered without touching SQLite.
    if (!name.startsWith(XATTR_PREFIX)) throw new FsError('ENODATA', `no attribute ${name}`);
    return this.xattrs.get(await this.item(path), name);
  }

  async setxattr(path: string, name: string, value: Buffer): Promise<void> {
    this.xattrs.set(await this.item(path), name, value);
  }

  async removexattr(path: string, name: string): Promise<void> {
    this.xattrs.remove(await this.item(path), name);
  }

  async lookup(parentIno: number, name: string): Promise<FileAttr> {
    const parent = this.pathOf(parentIno);
    return this.getattr(parent === '' ? name : `${parent}/${name}`);
  }

  async getattrOfIno(ino: number): Promise<FileAttr> {
    const id = this.inodes.idOf(ino);
    if (id === undefined || this.o.store.getItem(id) === undefined) {
      for (const [fh, opened] of this.handleInos) {
        const h = opened === ino ? this.handles.get(fh) : undefined;
        if (h !== undefined) return this.handleAttr(fh, h);
      }
      const kept = this.replaced.itemOf(ino);
      if (kept !== undefined) return { ...this.attrOf(kept), ino };
    }
    return this.getattr(this.pathOf(ino));
  }

  /**
   * Opens the inode the kernel holds: the item it is now, or, for reading, what it held when a rename over it or a
   * remote delete replaced it (as a local disk opens a replaced file that a path walk had already found).
   */
  async openIno(ino: number, flags: number): Promise<number> {
    let path: string;
    try {
      path = this.pathOf(ino);
    } catch (err) {
      const item = this.replaced.itemOf(ino);
      const content =
        item !== undefined && (flags & WRITE_ACCESS) === 0 ? this.replaced.open(ino) : undefined;
      if (item === undefined || content === undefined) throw err;
      this.o.activity.noteContent();
      const fh = this.handles.add({ item, content, replaced: true });
      this.handleInos.set(fh, ino);
      return fh;
    }
    return this.open(path, flags);
  }

  /** The libfuse3 adapter: which inode numbers the kernel holds, so replaced ones keep their content. */
  trackKernel(held: (ino: number) => boolean): void {
    this.held = held;
  }

  /** The kernel holds nothing of `ino` any more (FORGET): what it kept goes once its last handle closes. */
  forgotten(ino: number): Promise<void> {
    return this.replaced
      .forget(ino)
      .catch((err: unknown) => this.o.logger.warn({ err, ino }, 'could not close a replaced inode'));
  }

  /** A document whose row a remote change is about to delete (MetadataStore.onRemoving): a held inode keeps it. */
  removing(item: StoredItem): void {
    this.keepReplaced(item)?.done();
  }

  /** Inodes replaced while held that the kernel has not forgotten yet. */
  replacedInodes(): number {
    return this.replaced.size;
  }

  pathOf(ino: number): string {
    const id = this.inodes.idOf(ino);
    const rootId = this.o.store.rootId();
    const names: string[] = [];
    for (let cur = id === undefined ? undefined : this.o.store.getItem(id); cur !== undefined;) {
      if (cur.id === rootId) return names.reverse().join('/');
      names.push(cur.name);
      if (names.length > 10_000) break; // a cycle in stored data
      cur = this.o.store.getItem(cur.parentId);
    }
    // ESTALE, not ENOENT: the kernel found this inode under a name that now holds another item (a save by rename-over
    // replaced it between its lookup and this request); it looks the name up again and retries, as over NFS.
    throw new FsError('ESTALE', `no item for inode ${ino}`);
  }

  knownIno(id: ItemId): number | undefined {
    return this.inodes.peek(id);
  }

  placeOf(id: ItemId): { parentIno: number; name: string; folder: boolean } | undefined {
    const item = this.o.store.getItem(id);
    if (item === undefined || item.id === this.o.store.rootId()) return undefined;
    const parentIno = this.inodes.peek(item.parentId);
    return parentIno === undefined
      ? undefined
      : { parentIno, name: item.name, folder: item.kind === 'folder' };
  }

  /** An item took the server's id (the uploader's re-key): open copies and inode numbers follow. */
  rekeyed(oldId: ItemId, newId: ItemId): void {
    this.o.local.rekey(oldId, newId);
    this.inodes.rekey(oldId, newId);
  }

  refuse(op: string, path: string): never {
    throw new FsError('EPERM', `${op} ${path}: not supported`);
  }

  /** Number of open handles (for the daemon's shutdown and for tests). */
  openHandles(): number {
    return this.handles.size;
  }

  /** Attributes through a handle: its item with what the handle reads (local copy, kept or opened version). */
  private handleAttr(fh: number, h: Handle): FileAttr {
    const attr = this.attrOf(h.item);
    const ino = this.handleInos.get(fh) ?? attr.ino;
    const local = this.localOf(h);
    if (local === undefined) return { ...attr, ino };
    const mtime = new Date(local.mtimeMs);
    return { ...attr, ino, size: local.size, mtime, ctime: mtime };
  }

  /** The local copy a handle reads: its own, or the item's when another handle opened one; none for a kept inode. */
  private localOf(h: Handle): { fd: number; size: number; mtimeMs: number } | undefined {
    if ('local' in h) return h.local;
    return h.replaced ? undefined : this.o.local.get(h.item.id);
  }

  /**
   * Before a document's row goes or its inode is replaced: when the kernel holds its inode, opens what it reads now
   * (its local copy, else its verified cached version; nothing is downloaded) for ReplacedInodes.
   */
  private keepReplaced(item: StoredItem): Keeping | undefined {
    if (item.kind !== 'document') return undefined;
    const ino = this.inodes.peek(item.id);
    if (ino === undefined || !this.held(ino)) return undefined;
    const live = this.o.local.get(item.id);
    const copy = this.o.local.openForKeeping(item.id);
    const kept =
      copy !== undefined
        ? {
            item: { ...item, size: copy.size, modifiedMs: live?.mtimeMs ?? item.modifiedMs },
            content: copy.content,
          }
        : { item, content: this.o.hydrator.openCached(item) };
    const { content } = kept;
    if (content === undefined) return undefined;
    return {
      done: () => this.replaced.add(ino, kept.item, content),
      abandon: () => void content.close(),
    };
  }

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (h === undefined) throw new FsError('EBADF', `unknown file handle ${fh}`);
    return h;
  }

  private localHandle(fh: number): OpenFile {
    const h = this.handle(fh);
    if (!('local' in h)) throw new FsError('EBADF', 'handle not open for writing');
    return h;
  }

  private async item(path: string): Promise<StoredItem> {
    const found = this.resolve(path);
    return (found instanceof Promise ? await found : found).item;
  }

  /** Makes sure every child of the folder is in the store (FolderLister), so a name check sees them all. */
  private async listed(dir: StoredItem): Promise<void> {
    const lister = this.o.lister;
    if (lister !== undefined && !lister.isComplete(dir.id)) await lister.ensureListed(dir.id);
  }

  /** Parent folder and leaf name of a path, with whatever item already holds that name (case-insensitively). */
  private async slot(path: string): Promise<Slot> {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) throw new FsError('EBUSY', 'the library root');
    if (Buffer.byteLength(name) > NAME_MAX_BYTES) throw new FsError('ENAMETOOLONG', `name too long: ${path}`);
    const parent = await this.item(parts.join('/'));
    if (parent.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder: ${parts.join('/')}`);
    await this.listed(parent);
    return { parent, name, existing: this.o.store.getChild(parent.id, name), path };
  }

  /**
   * Path → item and attributes: from the lookup cache, else SQLite. Synchronous unless a name is missing from a
   * folder whose documents are not known yet; then that folder is listed first (FolderLister) and the walk goes on.
   */
  private resolve(path: string): CachedEntry | Promise<CachedEntry> {
    this.lookups?.revalidate();
    const segments = splitPath(path);
    let entry = this.rootEntry(path);
    for (let i = 0; i < segments.length; i++) {
      const next = this.child(entry, segments[i] as string, path);
      if (next === undefined) return this.resolveAfterListing(entry, segments, i, path);
      entry = next;
    }
    return entry;
  }

  private async resolveAfterListing(
    from: CachedEntry,
    segments: readonly string[],
    index: number,
    path: string,
  ): Promise<CachedEntry> {
    let entry = from;
    for (let i = index; i < segments.length; i++) {
      const segment = segments[i] as string;
      let next = this.child(entry, segment, path);
      const lister = this.o.lister;
      if (next === undefined && lister !== undefined && !lister.isComplete(entry.item.id)) {
        await lister.ensureListed(entry.item.id);
        this.lookups?.revalidate();
        next = this.child(entry, segment, path);
      }
      if (next === undefined) throw new FsError('ENOENT', `no such item: ${path}`);
      entry = next;
    }
    return entry;
  }

  private rootEntry(path: string): CachedEntry {
    // Cached under the empty key: the root's id is in the sync state, one query saved per operation.
    const hit = this.lookups?.get('', '');
    if (hit !== undefined) return hit;
    const rootId = this.o.store.rootId();
    if (rootId === undefined) throw new FsError('ENOENT', 'library not synced yet');
    const root = this.o.store.getItem(rootId);
    if (root === undefined) throw new FsError('ENOENT', `no such item: ${path}`);
    const entry = { item: root, attr: this.attrOf(root) };
    this.lookups?.set('', '', entry);
    return entry;
  }

  /**
   * One step of the walk; undefined when the folder has no child of exactly this name. A name that differs only by
   * case or Unicode normalisation (NFC/NFD) from a child is not that child here: if the kernel got the child's
   * inode for it, a rename `a.txt` → `A.txt` would reach it as a rename of a file onto itself, which it answers 0
   * without asking us. Creating such a name is refused (`slot`: `EEXIST`), as SharePoint would.
   */
  private child(parent: CachedEntry, segment: string, path: string): CachedEntry | undefined {
    if (parent.item.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder on the way to ${path}`);
    const parentId: ItemId = parent.item.id;
    const hit = this.lookups?.get(parentId, segment);
    if (hit !== undefined) return hit;
    if (Buffer.byteLength(segment) > NAME_MAX_BYTES)
      throw new FsError('ENAMETOOLONG', `name too long in ${path}`);
    const item = this.o.store.getChild(parentId, segment);
    if (item === undefined || item.name !== segment) return undefined;
    const entry = { item, attr: this.attrOf(item) };
    this.lookups?.set(parentId, segment, entry);
    return entry;
  }

  /** An open local copy's size and mtime are the truth while it is open (writes land there first). */
  private withLocal(item: StoredItem, attr: FileAttr): FileAttr {
    if (item.kind === 'folder' || !this.o.local.anyOpen()) return attr;
    const local = this.o.local.get(item.id);
    if (local === undefined) return attr;
    const mtime = new Date(local.mtimeMs);
    return { ...attr, size: local.size, mtime, ctime: mtime };
  }

  private refuseIfReadOnly(op: string, path: string): void {
    if (this.o.readOnly) throw new ReadOnlyMountError(op, path);
  }

  private attrOf(item: StoredItem): FileAttr {
    const mtime = new Date(item.modifiedMs);
    const folder = item.kind === 'folder';
    return {
      ino: this.inodes.inoOf(item.id),
      mode: folder ? this.dirMode : this.fileMode,
      size: folder ? BLOCK_SIZE : item.size,
      // A folder's link count is not known without counting its subfolders: 1 tells find/fts not to rely on it.
      nlink: 1,
      uid: this.o.uid,
      gid: this.o.gid,
      mtime,
      atime: mtime,
      ctime: mtime,
    };
  }
}
