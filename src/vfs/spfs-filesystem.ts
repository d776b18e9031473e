// The filesystem itself, without FUSE: path lookup in the metadata store, attributes, listings, and reads that
// hydrate a document on first open. Read-only in this slice: every modifying operation answers EROFS.
import { constants } from 'node:fs';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { Logger } from '../shared/logger';
import { splitPath } from '../shared/names';
import type { ContentHandle, Hydrator } from '../sync/hydrator';
import { FsError } from './errors';
import { HandleTable } from './handle-table';
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
}

interface OpenFile {
  item: StoredItem;
  content: ContentHandle;
}

export class SpfsFilesystem implements Filesystem {
  private readonly handles = new HandleTable<OpenFile>();

  constructor(private readonly opts: FilesystemOptions) {}

  getattr(path: string): Promise<FileAttr> {
    return Promise.resolve(this.attrOf(this.resolve(path)));
  }

  readdir(path: string): Promise<DirEntry[]> {
    const dir = this.resolve(path);
    if (dir.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder: ${path}`);
    return Promise.resolve(
      this.opts.store.listChildren(dir.id).map((child) => ({ name: child.name, attr: this.attrOf(child) })),
    );
  }

  async open(path: string, flags: number): Promise<number> {
    if ((flags & WRITE_FLAGS) !== 0) this.refuseWrite('open for writing', path);
    const item = this.resolve(path);
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

  private resolve(path: string): StoredItem {
    const rootId = this.opts.store.rootId();
    if (rootId === undefined) throw new FsError('ENOENT', 'library not synced yet');
    let item = this.opts.store.getItem(rootId);
    for (const segment of splitPath(path)) {
      if (item === undefined) break;
      if (item.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder on the way to ${path}`);
      if (Buffer.byteLength(segment) > NAME_MAX_BYTES)
        throw new FsError('ENAMETOOLONG', `name too long in ${path}`);
      item = this.opts.store.getChild(item.id, segment);
    }
    if (item === undefined) throw new FsError('ENOENT', `no such item: ${path}`);
    return item;
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
