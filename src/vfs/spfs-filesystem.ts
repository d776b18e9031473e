// The filesystem itself, without FUSE: path lookup in the metadata store, attributes, listings, and reads that
// hydrate a document on first open. Read-only in this slice: every modifying operation answers EROFS.
import { constants } from 'node:fs';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { splitPath } from '../shared/names';
import type { FolderLister } from '../sync/folder-lister';
import { noteForegroundActivity, noteMetadataActivity } from '../sync/foreground-activity';
import type { ContentHandle, Hydrator } from '../sync/hydrator';
import { FsError } from './errors';
import { HandleTable } from './handle-table';
import { DEFAULT_LOOKUP_ENTRIES, LookupCache, type CachedEntry } from './lookup-cache';
import type { DirEntry, FileAttr, Filesystem, FsStats } from './types';

const BLOCK_SIZE = 4096;
const NAME_MAX_BYTES = 255;
const DIR_MODE = constants.S_IFDIR | 0o555;
const FILE_MODE = constants.S_IFREG | 0o444;
const WRITE_FLAGS =
  constants.O_WRONLY | constants.O_RDWR | constants.O_TRUNC | constants.O_APPEND | constants.O_CREAT;

export interface FilesystemOptions {
  store: MetadataStore;
  hydrator: Hydrator;
  logger: Logger;
  uid: number;
  gid: number;
  /** Lists folders whose documents are not known yet (first full pass running); without it all are complete. */
  lister?: FolderLister;
  /** Change counter of the metadata database: enables the in-memory lookup cache (lookup-cache.ts). */
  storeVersion?: () => number;
  /** Lookup-cache entries kept at most. */
  lookupEntries?: number;
}

interface OpenFile {
  item: StoredItem;
  content: ContentHandle;
}

export class SpfsFilesystem implements Filesystem {
  private readonly handles = new HandleTable<OpenFile>();
  private readonly lookups: LookupCache | undefined;

  constructor(private readonly opts: FilesystemOptions) {
    if (opts.storeVersion !== undefined)
      this.lookups = new LookupCache({
        maxEntries: opts.lookupEntries ?? DEFAULT_LOOKUP_ENTRIES,
        version: opts.storeVersion,
      });
  }

  getattr(path: string): Promise<FileAttr> {
    noteMetadataActivity();
    const found = this.resolve(path);
    return found instanceof Promise ? found.then((e) => e.attr) : Promise.resolve(found.attr);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    noteMetadataActivity();
    const found = this.resolve(path);
    const dir = (found instanceof Promise ? await found : found).item;
    if (dir.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder: ${path}`);
    const lister = this.opts.lister;
    if (lister !== undefined && !lister.isComplete(dir.id)) await lister.ensureListed(dir.id);
    this.lookups?.revalidate();
    return this.opts.store.listChildren(dir.id).map((child) => {
      const entry = { item: child, attr: this.attrOf(child) };
      // ls -l stats every entry right after listing it: answer those from memory.
      this.lookups?.set(dir.id, child.name, entry);
      return { name: child.name, attr: entry.attr };
    });
  }

  async open(path: string, flags: number): Promise<number> {
    if ((flags & WRITE_FLAGS) !== 0) this.refuseWrite('open for writing', path);
    noteForegroundActivity();
    const found = this.resolve(path);
    const item = (found instanceof Promise ? await found : found).item;
    if (item.kind === 'folder') throw new FsError('EISDIR', `is a folder: ${path}`);
    const content = await this.opts.hydrator.open(item);
    return this.handles.add({ item, content });
  }

  read(fh: number, buffer: Buffer, length: number, position: number): Promise<number> {
    const file = this.handles.get(fh);
    if (file === undefined) throw new FsError('EBADF', `unknown file handle ${fh}`);
    if (position >= file.item.size) return Promise.resolve(0);
    return file.content.read(buffer, Math.min(length, file.item.size - position), position);
  }

  async release(fh: number): Promise<void> {
    const file = this.handles.delete(fh);
    if (file !== undefined) await file.content.close();
  }

  statfs(): Promise<FsStats> {
    const quota = this.opts.store.getSyncState()?.quota;
    const granted = quota?.granted ?? 0;
    const used = quota?.used ?? 0;
    const blocks = Math.floor(granted / BLOCK_SIZE);
    const free = Math.max(0, Math.floor((granted - used) / BLOCK_SIZE));
    const files = this.opts.store.countItems();
    return Promise.resolve({
      bsize: BLOCK_SIZE,
      frsize: BLOCK_SIZE,
      blocks,
      bfree: free,
      bavail: free,
      files,
      ffree: 0,
      favail: 0,
      namemax: NAME_MAX_BYTES,
    });
  }

  refuseWrite(op: string, path: string): never {
    throw new FsError('EROFS', `${op} ${path}: this mount is read-only`);
  }

  /** Number of open handles (for the daemon's shutdown and for tests). */
  openHandles(): number {
    return this.handles.size;
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
      const lister = this.opts.lister;
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
    const rootId = this.opts.store.rootId();
    if (rootId === undefined) throw new FsError('ENOENT', 'library not synced yet');
    const root = this.opts.store.getItem(rootId);
    if (root === undefined) throw new FsError('ENOENT', `no such item: ${path}`);
    const entry = { item: root, attr: this.attrOf(root) };
    this.lookups?.set('', '', entry);
    return entry;
  }

  /** One step of the walk; undefined when the folder has no such child in the store. */
  private child(parent: CachedEntry, segment: string, path: string): CachedEntry | undefined {
    if (parent.item.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder on the way to ${path}`);
    const parentId: ItemId = parent.item.id;
    const hit = this.lookups?.get(parentId, segment);
    if (hit !== undefined) return hit;
    if (Buffer.byteLength(segment) > NAME_MAX_BYTES)
      throw new FsError('ENAMETOOLONG', `name too long in ${path}`);
    const item = this.opts.store.getChild(parentId, segment);
    if (item === undefined) return undefined;
    const entry = { item, attr: this.attrOf(item) };
    this.lookups?.set(parentId, segment, entry);
    return entry;
  }

  private attrOf(item: StoredItem): FileAttr {
    const mtime = new Date(item.modifiedMs);
    const folder = item.kind === 'folder';
    return {
      mode: folder ? DIR_MODE : FILE_MODE,
      size: folder ? BLOCK_SIZE : item.size,
      nlink: folder ? 2 : 1,
      uid: this.opts.uid,
      gid: this.opts.gid,
      mtime,
      atime: mtime,
      ctime: mtime,
    };
  }
}
