// The read-write mount: wraps the read-only SpfsFilesystem (lookups, listings, hydrating reads) and adds the
// modifying operations of write-ops.ts. Documents with local changes are read from their local copy.
import { constants, readSync } from 'node:fs';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { Logger } from '../shared/logger';
import { splitPath } from '../shared/names';
import { FsError } from './errors';
import { HandleTable } from './handle-table';
import type { LocalFile, LocalFiles } from './local-files';
import type { SpfsFilesystem } from './spfs-filesystem';
import type { DirEntry, FileAttr, FsStats, WritableFs } from './types';
import type { OpenFile, WriteOps } from './write-ops';

const WRITE_ACCESS = constants.O_WRONLY | constants.O_RDWR;
const WRITE_BITS = 0o200;
const BLOCK_SIZE = 4096;

type Handle = { inner: number; path: string } | OpenFile;

export interface WritableFilesystemOptions {
  inner: SpfsFilesystem;
  store: MetadataStore;
  ops: WriteOps;
  local: LocalFiles;
  logger: Logger;
}

export class WritableFilesystem implements WritableFs {
  private readonly handles = new HandleTable<Handle>();

  constructor(private readonly o: WritableFilesystemOptions) {}

  async getattr(path: string): Promise<FileAttr> {
    return this.overlay(await this.o.inner.getattr(path), path);
  }

  async fgetattr(fh: number, path: string): Promise<FileAttr> {
    const h = this.handles.get(fh);
    if (h !== undefined && 'local' in h && h.local !== undefined) {
      const attr = await this.o.inner.getattr(path).catch(() => undefined);
      const mtime = new Date(h.local.mtimeMs);
      const base = attr ?? {
        mode: constants.S_IFREG | 0o644,
        nlink: 1,
        uid: process.getuid?.() ?? 0,
        gid: process.getgid?.() ?? 0,
        atime: mtime,
        ctime: mtime,
        size: 0,
        mtime,
      };
      return { ...base, mode: base.mode | WRITE_BITS, size: h.local.size, mtime, ctime: mtime };
    }
    return this.getattr(path);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const entries = await this.o.inner.readdir(path);
    return entries.map((e) => ({ name: e.name, attr: { ...e.attr, mode: e.attr.mode | WRITE_BITS } }));
  }

  async open(path: string, flags: number): Promise<number> {
    const writer = (flags & WRITE_ACCESS) !== 0;
    const item = await this.item(path);
    if (item.kind === 'folder') {
      if (writer) throw new FsError('EISDIR', `is a folder: ${path}`);
      return this.handles.add({ inner: await this.o.inner.open(path, flags), path });
    }
    if (writer || this.o.ops.hasLocalCopy(item.id)) {
      const truncate = writer && (flags & constants.O_TRUNC) !== 0;
      const append = (flags & constants.O_APPEND) !== 0;
      return this.handles.add(await this.o.ops.openLocal(item, writer, truncate, append));
    }
    return this.handles.add({
      inner: await this.o.inner.open(
        path,
        flags & ~(constants.O_TRUNC | constants.O_APPEND | constants.O_CREAT),
      ),
      path,
    });
  }

  async create(path: string): Promise<number> {
    return this.handles.add(await this.o.ops.create(path));
  }

  async read(fh: number, buffer: Buffer, length: number, position: number): Promise<number> {
    const h = this.handle(fh);
    if ('inner' in h) {
      // Another handle may have opened the document for writing meanwhile: read what it wrote.
      const local = this.o.local.anyOpen() ? this.liveCopy(h.path) : undefined;
      if (local === undefined) return this.o.inner.read(h.inner, buffer, length, position);
      return this.readLocal(local.fd, local.size, buffer, length, position);
    }
    const local = h.local;
    if (local === undefined) return 0;
    return this.readLocal(local.fd, local.size, buffer, length, position);
  }

  write(fh: number, buffer: Buffer, length: number, position: number): Promise<number> {
    const h = this.handle(fh);
    if ('inner' in h) throw new FsError('EBADF', 'handle not open for writing');
    return Promise.resolve(this.o.ops.write(h, buffer, length, position));
  }

  truncate(path: string, size: number): Promise<void> {
    return this.o.ops.truncate(path, size);
  }

  ftruncate(fh: number, size: number): Promise<void> {
    const h = this.handle(fh);
    if ('inner' in h) throw new FsError('EBADF', 'handle not open for writing');
    this.o.ops.ftruncate(h, size);
    return Promise.resolve();
  }

  flush(fh: number): Promise<void> {
    const h = this.handles.get(fh);
    if (h !== undefined && !('inner' in h)) this.o.ops.flush(h);
    return Promise.resolve();
  }

  fsync(fh: number): Promise<void> {
    return this.flush(fh);
  }

  async release(fh: number): Promise<void> {
    const h = this.handles.delete(fh);
    if (h === undefined) return;
    if ('inner' in h) await this.o.inner.release(h.inner);
    else this.o.ops.release(h);
  }

  async unlink(path: string): Promise<void> {
    await this.item(path);
    this.o.ops.unlink(path);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.item(from);
    await this.item(parentOf(to));
    this.o.ops.rename(from, to);
  }

  async mkdir(path: string): Promise<void> {
    await this.item(parentOf(path));
    this.o.ops.mkdir(path);
  }

  async rmdir(path: string): Promise<void> {
    await this.item(path);
    this.o.ops.rmdir(path);
  }

  async utimens(path: string, _atime: Date, mtime: Date): Promise<void> {
    await this.item(path);
    this.o.ops.utimens(path, mtime);
  }

  /** Modes are fixed (0644 files, 0755 folders): chmod/chown are accepted and change nothing (docs/SEMANTICS.md). */
  async chmod(path: string): Promise<void> {
    await this.item(path);
  }

  async chown(path: string): Promise<void> {
    await this.item(path);
  }

  async statfs(): Promise<FsStats> {
    const s = await this.o.inner.statfs();
    // Bytes waiting for upload will take server space: report them as used already.
    const pending = Math.ceil(this.o.store.journal.totals().bytes / BLOCK_SIZE);
    const free = Math.max(0, s.bfree - pending);
    return { ...s, bfree: free, bavail: free };
  }

  refuseWrite(op: string, path: string): never {
    throw new FsError('EPERM', `${op} ${path}: not supported`);
  }

  openHandles(): number {
    return this.handles.size;
  }

  private readLocal(
    fd: number,
    size: number,
    buffer: Buffer,
    length: number,
    position: number,
  ): Promise<number> {
    if (position >= size) return Promise.resolve(0);
    return Promise.resolve(readSync(fd, buffer, 0, Math.min(length, size - position), position));
  }

  private liveCopy(path: string): LocalFile | undefined {
    try {
      return this.o.local.get(this.resolveStored(path).id);
    } catch {
      return undefined;
    }
  }

  private handle(fh: number): Handle {
    const h = this.handles.get(fh);
    if (h === undefined) throw new FsError('EBADF', `unknown file handle ${fh}`);
    return h;
  }

  /** Resolves through the read-only filesystem (which lists lazily), then reads the row from the store. */
  private async item(path: string): Promise<StoredItem> {
    await this.o.inner.getattr(path);
    return this.resolveStored(path);
  }

  resolveStored(path: string): StoredItem {
    const { store } = this.o;
    const rootId = store.rootId();
    let item = rootId === undefined ? undefined : store.getItem(rootId);
    for (const seg of splitPath(path)) {
      if (item === undefined) break;
      if (item.kind !== 'folder') throw new FsError('ENOTDIR', `not a folder on the way to ${path}`);
      item = store.getChild(item.id, seg);
    }
    if (item === undefined) throw new FsError('ENOENT', `no such item: ${path}`);
    return item;
  }

  private overlay(attr: FileAttr, path: string): FileAttr {
    const a = { ...attr, mode: attr.mode | WRITE_BITS };
    if ((attr.mode & constants.S_IFDIR) !== 0) return a;
    const local = this.o.local.anyOpen() ? this.liveCopy(path) : undefined;
    if (local === undefined) return a;
    const mtime = new Date(local.mtimeMs);
    return { ...a, size: local.size, mtime, ctime: mtime };
  }
}

function parentOf(path: string): string {
  return splitPath(path).slice(0, -1).join('/');
}
