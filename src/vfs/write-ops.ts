// The modifying operations of the filesystem: create, write, truncate, flush (the durable point), mkdir, rmdir,
// unlink, rename, utimens. Each change lands in the local item rows and the upload journal; the Uploader sends it.
import * as fs from 'node:fs';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import { isLocalId, LOCAL_ID_PREFIX } from '../cache/upload-journal';
import { randomBytes } from 'node:crypto';
import type { ETag, ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { splitPath } from '../shared/names';
import { FsError } from './errors';
import type { LocalFile, LocalFiles } from './local-files';
import { checkNewName, isLocalOnlyName } from './write-rules';

/** What the filesystem keeps per open handle. */
export interface OpenFile {
  item: StoredItem;
  /** Set when the handle reads or writes the item's local copy. */
  local?: LocalFile;
  writer: boolean;
  append: boolean;
}

export interface WriteOpsOptions {
  store: MetadataStore;
  local: LocalFiles;
  logger: Logger;
  /** Path → item (throws ENOENT/ENOTDIR). */
  resolve: (path: string) => StoredItem;
  /** Told after every change the journal recorded (wakes the uploader). */
  onChange?: () => void;
}

const LOCAL_ETAG = '"local"' as ETag;

export class WriteOps {
  constructor(private readonly o: WriteOpsOptions) {}

  newLocalId(): ItemId {
    return (LOCAL_ID_PREFIX + randomBytes(16).toString('hex')) as ItemId;
  }

  /** Opens a document's local copy: for writing, or for reading a copy with changes not uploaded yet. */
  async openLocal(item: StoredItem, writer: boolean, truncate: boolean, append: boolean): Promise<OpenFile> {
    const has = this.o.local.hasCopy(item.id);
    const local = await this.o.local.open(item, has ? 'existing' : truncate ? 'empty' : 'server', writer);
    if (truncate && local.size > 0) this.resize(local, 0);
    else if (truncate) local.changed = true;
    return { item, local, writer, append };
  }

  /** Whether reads of this item must come from its local copy. */
  hasLocalCopy(id: ItemId): boolean {
    return this.o.local.hasCopy(id);
  }

  async create(path: string): Promise<OpenFile> {
    const item = this.newLocalItem(path, 'document');
    const local = await this.o.local.open(item, 'empty', true);
    this.o.store.transaction(() => {
      this.o.store.putLocalItem(item);
      this.o.store.setCopy(item.id, local.copy);
      if (!isLocalOnlyName(item.name)) this.o.store.journal.recordCreate(item);
    });
    this.o.onChange?.();
    return { item, local, writer: true, append: false };
  }

  write(f: OpenFile, buffer: Buffer, length: number, position: number): number {
    const local = f.local;
    if (local === undefined || !f.writer) throw new FsError('EBADF', 'handle not open for writing');
    const at = f.append ? local.size : position;
    const n = fs.writeSync(local.fd, buffer, 0, length, at);
    if (at + n > local.size) local.size = at + n;
    local.mtimeMs = Date.now();
    local.changed = true;
    return n;
  }

  ftruncate(f: OpenFile, size: number): void {
    if (f.local === undefined || !f.writer) throw new FsError('EBADF', 'handle not open for writing');
    this.resize(f.local, size);
  }

  async truncate(path: string, size: number): Promise<void> {
    const item = this.o.resolve(path);
    if (item.kind === 'folder') throw new FsError('EISDIR', `is a folder: ${path}`);
    const f = await this.openLocal(item, true, size === 0, false);
    try {
      this.resize(f.local as LocalFile, size);
      this.flush(f);
    } finally {
      this.release(f);
    }
  }

  /**
   * The durable point of a close(): the local copy is fsynced and the journal row committed (synchronous=FULL)
   * before this returns. Nothing waits for the network. fsync(2) does the same.
   */
  flush(f: OpenFile): void {
    const local = f.local;
    if (local === undefined || !local.changed) return;
    fs.fsyncSync(local.fd);
    const { store } = this.o;
    store.durably(() =>
      store.transaction(() => {
        const item = store.getItem(local.id);
        if (item === undefined) return; // unlinked meanwhile: nothing to upload
        const updated: StoredItem = { ...item, size: local.size, modifiedMs: Math.floor(local.mtimeMs) };
        store.putLocalItem(updated);
        f.item = updated;
        if (!isLocalId(item.id) || store.journal.hasPendingChange(item.id) || !isLocalOnlyName(item.name))
          store.journal.recordContent(updated);
      }),
    );
    local.changed = false;
    this.o.onChange?.();
  }

  release(f: OpenFile): void {
    const local = f.local;
    if (local === undefined) return;
    if (f.writer && local.changed) this.flush(f);
    this.o.local.release(local, f.writer);
  }

  mkdir(path: string): void {
    const item = this.newLocalItem(path, 'folder');
    this.o.store.transaction(() => {
      this.o.store.putLocalItem(item);
      this.o.store.journal.recordCreate(item);
    });
    this.o.onChange?.();
  }

  rmdir(path: string): void {
    const item = this.o.resolve(path);
    if (item.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder: ${path}`);
    if (item.id === this.o.store.rootId()) throw new FsError('EBUSY', 'the library root');
    if (this.o.store.listChildren(item.id).length > 0) throw new FsError('ENOTEMPTY', `not empty: ${path}`);
    this.removeItem(item);
  }

  unlink(path: string): void {
    const item = this.o.resolve(path);
    if (item.kind === 'folder') throw new FsError('EISDIR', `is a folder: ${path}`);
    this.removeItem(item);
  }

  rename(from: string, to: string): void {
    const src = this.o.resolve(from);
    if (src.id === this.o.store.rootId()) throw new FsError('EBUSY', 'the library root');
    const { parent, name, existing } = this.slot(to);
    checkNewName(to, name, this.o.logger);
    if (this.isInside(parent, src)) throw new FsError('EINVAL', `cannot move ${from} into itself`);
    if (existing !== undefined && existing.id !== src.id) {
      if (existing.kind === 'folder' && src.kind !== 'folder')
        throw new FsError('EISDIR', `is a folder: ${to}`);
      if (existing.kind !== 'folder' && src.kind === 'folder')
        throw new FsError('ENOTDIR', `not a folder: ${to}`);
      if (existing.kind === 'folder' && this.o.store.listChildren(existing.id).length > 0)
        throw new FsError('ENOTEMPTY', `not empty: ${to}`);
      if (this.replaceContent(src, existing)) return;
    }
    const { store } = this.o;
    store.transaction(() => {
      if (existing !== undefined && existing.id !== src.id) this.removeItem(existing);
      const moved: StoredItem = { ...src, parentId: parent.id, name };
      store.putLocalItem(moved);
      if (!isLocalId(src.id)) store.journal.recordMove(moved, { parentId: src.parentId, name: src.name });
      else if (store.journal.hasPendingChange(src.id)) store.journal.recordMove(moved, src);
      else if (!isLocalOnlyName(name)) store.journal.recordCreate(moved);
    });
    this.o.onChange?.();
  }

  utimens(path: string, mtime: Date): void {
    const item = this.o.resolve(path);
    const local = this.o.local.get(item.id);
    if (local !== undefined) local.mtimeMs = mtime.getTime();
    this.o.store.putLocalItem({ ...item, modifiedMs: mtime.getTime() });
  }

  /**
   * Saving by "write a new file, rename it over the original": the original keeps its ResourceID (and version
   * history) and takes the new content, uploaded against the original's ETag. Returns false when not applicable.
   */
  private replaceContent(src: StoredItem, target: StoredItem): boolean {
    if (src.kind !== 'document' || target.kind !== 'document') return false;
    if (!isLocalId(src.id) || isLocalId(target.id) || this.o.local.isOpen(target.id)) return false;
    const { store } = this.o;
    const srcCopy = store.copyOf(src.id);
    if (srcCopy === undefined || !this.o.local.hasCopy(src.id)) return false;
    const srcLocal = this.o.local.get(src.id);
    const size = srcLocal?.size ?? src.size;
    const committed = store.durably(() =>
      store.transaction(() => {
        store.removeItem(src.id);
        store.journal.forget(src.id);
        const updated: StoredItem = { ...target, size, modifiedMs: src.modifiedMs };
        store.putLocalItem(updated);
        store.journal.recordContent(updated);
        return this.o.local.takeOver(src.id, srcCopy, target.id);
      }),
    );
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
    });
    this.o.local.discard(item.id, copy);
    this.o.onChange?.();
  }

  private resize(local: LocalFile, size: number): void {
    fs.ftruncateSync(local.fd, size);
    local.size = size;
    local.mtimeMs = Date.now();
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

  /** Parent folder and leaf name of a path, with whatever item already holds that name (case-insensitively). */
  private slot(path: string): { parent: StoredItem; name: string; existing: StoredItem | undefined } {
    const parts = splitPath(path);
    const name = parts.pop();
    if (name === undefined) throw new FsError('EBUSY', 'the library root');
    const parent = this.o.resolve(parts.join('/'));
    if (parent.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder: ${parts.join('/')}`);
    return { parent, name, existing: this.o.store.getChild(parent.id, name) };
  }

  /** A free slot for a new item: EEXIST when the name (or one differing only by case) is taken. */
  /** A new, empty local item at `path` (the slot checked by newSlot), not stored yet. */
  private newLocalItem(path: string, kind: StoredItem['kind']): StoredItem {
    const { parent, name } = this.newSlot(path);
    const now = Date.now();
    return {
      id: this.newLocalId(),
      parentId: parent.id,
      name,
      kind,
      size: 0,
      etag: LOCAL_ETAG,
      createdMs: now,
      modifiedMs: now,
    };
  }

  private newSlot(path: string): { parent: StoredItem; name: string } {
    const { parent, name, existing } = this.slot(path);
    if (existing !== undefined) {
      const how = existing.name === name ? 'exists' : `differs only by case from "${existing.name}"`;
      throw new FsError('EEXIST', `${path} ${how} (SharePoint names are case-insensitive)`);
    }
    checkNewName(path, name, this.o.logger);
    return { parent, name };
  }
}
