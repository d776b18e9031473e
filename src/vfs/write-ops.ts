// The modifying operations of the filesystem on resolved items: create, write, truncate, flush (the durable point),
// mkdir, rmdir, unlink, rename, utimens. Each change lands in the item rows and the upload journal in one SQLite
// transaction; the Uploader sends it. Paths are resolved once, by the filesystem, before these run.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import { isLocalId, LOCAL_ID_PREFIX } from '../cache/upload-journal';
import type { Clock } from '../shared/clock';
import type { ETag, ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { FsError } from './errors';
import type { LocalFile, LocalFiles } from './local-files';
import { checkNewName, isLocalOnlyName } from './write-rules';

const fsync = promisify(fs.fsync);

/** What the filesystem keeps per handle on a local copy. */
export interface OpenFile {
  item: StoredItem;
  local: LocalFile;
  writer: boolean;
  append: boolean;
}

export interface WriteOpsOptions {
  store: MetadataStore;
  local: LocalFiles;
  logger: Logger;
  clock: Clock;
  /** Told after every change the journal recorded (wakes the uploader); a move names the moved item. */
  onChange?: (moved?: ItemId) => void;
}

/** Where a new or moved entry goes: its folder, its name, and whatever already holds that name there. */
export interface Slot {
  parent: StoredItem;
  name: string;
  existing: StoredItem | undefined;
  path: string;
}

const LOCAL_ETAG = '"local"' as ETag;

export class WriteOps {
  constructor(private readonly o: WriteOpsOptions) {}

  /** Opens a document's local copy: for writing, or for reading a copy with changes not uploaded yet. */
  async openLocal(item: StoredItem, writer: boolean, truncate: boolean, append: boolean): Promise<OpenFile> {
    const has = this.o.local.hasCopy(item.id);
    const local = await this.o.local.open(item, has ? 'existing' : truncate ? 'empty' : 'server', writer);
    if (truncate && local.size > 0) this.resize(local, 0);
    else if (truncate) local.changed = true;
    return { item, local, writer, append };
  }

  async create(slot: Slot): Promise<OpenFile> {
    const item = this.newLocalItem(slot, 'document');
    const local = await this.o.local.open(item, 'empty', true);
    const { store } = this.o;
    store.transaction(() => {
      store.putLocalItem(item);
      store.setCopy(item.id, local.copy);
      if (!isLocalOnlyName(item.name)) store.journal.recordCreate(item);
      this.touchFolder(slot.parent);
    });
    this.o.onChange?.();
    return { item, local, writer: true, append: false };
  }

  write(f: OpenFile, buffer: Buffer, length: number, position: number): number {
    if (!f.writer) throw new FsError('EBADF', 'handle not open for writing');
    const local = f.local;
    const at = f.append ? local.size : position;
    const n = fs.writeSync(local.fd, buffer, 0, length, at);
    if (at + n > local.size) local.size = at + n;
    local.mtimeMs = this.o.clock.now();
    local.changed = true;
    return n;
  }

  ftruncate(f: OpenFile, size: number): void {
    if (!f.writer) throw new FsError('EBADF', 'handle not open for writing');
    this.resize(f.local, size);
  }

  async truncate(item: StoredItem, size: number, path: string): Promise<void> {
    if (item.kind === 'folder') throw new FsError('EISDIR', `is a folder: ${path}`);
    const f = await this.openLocal(item, true, size === 0, false);
    try {
      this.resize(f.local, size);
      await this.flush(f);
    } finally {
      await this.release(f);
    }
  }

  /**
   * The durable point of a close(): the local copy is fsynced (off the event loop) and the journal row committed
   * (synchronous=FULL) before this returns. Nothing waits for the network. fsync(2) does the same.
   */
  async flush(f: OpenFile): Promise<void> {
    const local = f.local;
    if (!local.changed) return;
    local.changed = false; // writes landing during the fsync set it again; their flush comes later
    try {
      await fsync(local.fd);
    } catch (err) {
      local.changed = true;
      throw err;
    }
    const { store } = this.o;
    store.durably(() =>
      store.transaction(() => {
        const item = store.getItem(local.id);
        if (item === undefined) return; // unlinked meanwhile: nothing to upload
        const updated: StoredItem = { ...item, size: local.size, modifiedMs: Math.floor(local.mtimeMs) };
        store.putLocalItem(updated);
        f.item = updated;
        if (!isLocalId(item.id) || store.journal.hasPendingChange(item.id) || !isLocalOnlyName(item.name))
          store.journal.recordContent(updated, local.base);
      }),
    );
    this.o.onChange?.();
  }

  async release(f: OpenFile): Promise<void> {
    if (f.writer && f.local.changed) await this.flush(f);
    this.o.local.release(f.local, f.writer);
  }

  mkdir(slot: Slot): void {
    const item = this.newLocalItem(slot, 'folder');
    this.o.store.transaction(() => {
      this.o.store.putLocalItem(item);
      this.o.store.journal.recordCreate(item);
      this.touchFolder(slot.parent);
    });
    this.o.onChange?.();
  }

  rmdir(item: StoredItem, path: string): void {
    if (item.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder: ${path}`);
    if (item.id === this.o.store.rootId()) throw new FsError('EBUSY', 'the library root');
    if (this.o.store.listChildren(item.id).length > 0) throw new FsError('ENOTEMPTY', `not empty: ${path}`);
    this.removeItem(item);
  }

  unlink(item: StoredItem, path: string): void {
    if (item.kind === 'folder') throw new FsError('EISDIR', `is a folder: ${path}`);
    this.removeItem(item);
  }

  rename(src: StoredItem, to: Slot, from: string): void {
    const { store } = this.o;
    if (src.id === store.rootId()) throw new FsError('EBUSY', 'the library root');
    const { parent, name, existing } = to;
    checkNewName(to.path, name, this.o.logger, src.kind === 'folder' ? store.longestPathBelow(src.id) : 0);
    if (this.isInside(parent, src)) throw new FsError('EINVAL', `cannot move ${from} into itself`);
    if (existing !== undefined && existing.id !== src.id) {
      // Looked up by its exact name, the target did not exist for the caller (see SpfsFilesystem.child): replacing
      // an item that only shares its name case-insensitively would delete a file nobody asked to replace.
      if (existing.name !== name)
        throw new FsError(
          'EEXIST',
          `${to.path} differs only by case or normalisation from "${existing.name}"`,
        );
      if (existing.kind === 'folder' && src.kind !== 'folder')
        throw new FsError('EISDIR', `is a folder: ${to.path}`);
      if (existing.kind !== 'folder' && src.kind === 'folder')
        throw new FsError('ENOTDIR', `not a folder: ${to.path}`);
      if (existing.kind === 'folder' && store.listChildren(existing.id).length > 0)
        throw new FsError('ENOTEMPTY', `not empty: ${to.path}`);
      if (this.replaceContent(src, existing)) return;
    }
    store.transaction(() => {
      if (existing !== undefined && existing.id !== src.id) this.removeItem(existing);
      const moved: StoredItem = { ...src, parentId: parent.id, name };
      store.putLocalItem(moved);
      if (!isLocalId(src.id)) store.journal.recordMove(moved, { parentId: src.parentId, name: src.name });
      else if (store.journal.hasPendingChange(src.id)) store.journal.recordMove(moved, src);
      else if (!isLocalOnlyName(name)) store.journal.recordCreate(moved);
      this.touchFolder(parent);
      if (src.parentId !== parent.id) this.touchFolderId(src.parentId);
    });
    this.o.onChange?.(src.id);
  }

  utimens(item: StoredItem, mtime: Date): void {
    const local = this.o.local.get(item.id);
    if (local !== undefined) local.mtimeMs = mtime.getTime();
    this.o.store.putLocalItem({ ...item, modifiedMs: mtime.getTime() });
  }

  /**
   * Saving by "write a new file, rename it over the original": the original keeps its ResourceID (and version
   * history) and takes the new content, uploaded against the original's ETag. Returns false when not applicable:
   * a source that was on the server before this mount made it is moved, its own ResourceID and history with it.
   */
  private replaceContent(src: StoredItem, target: StoredItem): boolean {
    if (src.kind !== 'document' || target.kind !== 'document') return false;
    if (isLocalId(target.id) || this.o.local.isOpen(target.id)) return false;
    const { store, local } = this.o;
    if (!isLocalId(src.id) && !local.createdHere(src)) return false;
    // The source's bytes: its local copy (written here, maybe not uploaded yet), or, when its create went up before
    // the rename (under --write-back 0 it may: the outcome must not depend on that race), its cached version.
    const kept = local.hasCopy(src.id) ? store.copyOf(src.id) : undefined;
    if (kept === undefined && isLocalId(src.id)) return false;
    const srcCopy = kept ?? local.copyOfCached(src);
    if (srcCopy === undefined) return false;
    const size = local.get(src.id)?.size ?? src.size;
    const commit = (): (() => void) =>
      store.transaction(() => {
        store.removeItem(src.id);
        // Nothing to send for a local id, unless a create of src went up (its reply lost); a server id is deleted.
        store.journal.recordDelete(src);
        const updated: StoredItem = { ...target, size, modifiedMs: src.modifiedMs };
        store.putLocalItem(updated);
        store.journal.recordContent(updated);
        this.touchFolderId(target.parentId);
        if (src.parentId !== target.parentId) this.touchFolderId(src.parentId);
        return this.o.local.takeOver(src.id, srcCopy, target.id);
      });
    let committed: () => void;
    try {
      committed = store.durably(commit);
    } catch (err) {
      if (kept === undefined) local.discard(src.id, srcCopy); // the copy made above names nothing
      throw err;
    }
    committed();
    this.o.onChange?.();
    return true;
  }

  private removeItem(item: StoredItem): void {
    const { store } = this.o;
    const copy = store.copyOf(item.id);
    store.transaction(() => {
      store.removeItem(item.id);
      store.journal.recordDelete(item);
      this.touchFolderId(item.parentId);
    });
    this.o.local.discard(item.id, copy);
    this.o.onChange?.();
  }

  /** An entry was added to, removed from or renamed in the folder: its mtime (and ctime) move, as POSIX says. */
  private touchFolder(folder: StoredItem): void {
    this.o.store.touchFolder(folder.id, this.o.clock.now());
  }

  private touchFolderId(id: ItemId): void {
    this.o.store.touchFolder(id, this.o.clock.now());
  }

  private resize(local: LocalFile, size: number): void {
    fs.ftruncateSync(local.fd, size);
    local.size = size;
    local.mtimeMs = this.o.clock.now();
    local.changed = true;
  }

  private isInside(folder: StoredItem, maybeAncestor: StoredItem): boolean {
    let cur: StoredItem | undefined = folder;
    const root = this.o.store.rootId();
    while (cur !== undefined) {
      if (cur.id === maybeAncestor.id) return true;
      if (cur.id === root) return false;
      cur = this.o.store.getItem(cur.parentId);
    }
    return false;
  }

  /** A new, empty local item in a free slot (EEXIST when the name, or one differing only by case, is taken). */
  private newLocalItem(slot: Slot, kind: StoredItem['kind']): StoredItem {
    const { parent, name, existing, path } = slot;
    if (existing !== undefined) {
      const how =
        existing.name === name ? 'exists' : `differs only by case or normalisation from "${existing.name}"`;
      throw new FsError('EEXIST', `${path} ${how} (SharePoint names are case-insensitive)`);
    }
    checkNewName(path, name, this.o.logger);
    const now = this.o.clock.now();
    return {
      id: (LOCAL_ID_PREFIX + randomBytes(16).toString('hex')) as ItemId,
      parentId: parent.id,
      name,
      kind,
      size: 0,
      etag: LOCAL_ETAG,
      createdMs: now,
      modifiedMs: now,
    };
  }
}
