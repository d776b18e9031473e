// The one owner of documents' local copies (`<cache>/dirty/`, named by `items.copy`): making them (empty, or a
// full copy of the server version), the shared fd every handle of an item uses, open and writer counts, unlink
// while open, re-keys, moving content onto another item, handing uploaded bytes to the content cache, and the
// start-up sweep. Nothing else touches a dirty file.
import * as fs from 'node:fs';
import { LRUCache } from 'lru-cache';
import type { ContentCache } from '../cache/content-cache';
import type { DirtyFiles } from '../cache/dirty-files';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import { isLocalId } from '../cache/upload-journal';
import type { RemoteItem } from '../protocol/types';
import type { ETag, ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { readInto, settledNow, type ContentHandle } from '../sync/hydrator';
import type { CurrentVersion } from './current-version';
import { fsyncPath } from '../shared/fsync-path';

const COPY_CHUNK_BYTES = 1024 * 1024;
/** How many of this mount's newest creates `createdHere` remembers (a save's temp file is renamed at once). */
const CREATED_KEPT = 256;

export interface LocalFile {
  id: ItemId;
  /** File name in dirty/ (items.copy). */
  copy: string;
  fd: number;
  size: number;
  mtimeMs: number;
  opens: number;
  writers: number;
  /** Written since the last flush recorded it in the journal. */
  changed: boolean;
  /** The item was unlinked while open: the file goes when the last handle closes. */
  unlinked: boolean;
  /** The server version the copy started from: a change recorded at close is based on it. */
  base: ETag;
}

export type LocalSource = 'existing' | 'empty' | 'server';

export interface LocalFilesOptions {
  store: MetadataStore;
  dirty: DirtyFiles;
  /** The server version a copy for writing starts from (ESTALE when it changed since the last sync). */
  current: Pick<CurrentVersion, 'open'>;
  cache: ContentCache;
  logger: Logger;
  /** Told when the last writer of an item closed it (its upload may start). */
  onWriterClosed?: (id: ItemId) => void;
}

export class LocalFiles {
  private readonly live = new Map<ItemId, LocalFile>();
  private readonly opening = new Map<ItemId, Promise<LocalFile>>();
  /** Documents whose create this mount uploaded, with the version it made (the newest CREATED_KEPT). */
  private readonly created = new LRUCache<ItemId, ETag>({ max: CREATED_KEPT });

  constructor(private readonly o: LocalFilesOptions) {}

  get(id: ItemId): LocalFile | undefined {
    return this.live.get(id);
  }

  /** Whether a handle writes to the item (the uploader waits until it is closed). */
  busy(id: ItemId): boolean {
    return (this.live.get(id)?.writers ?? 0) > 0;
  }

  /** Whether any local copy is open (a cheap check before per-path overlays). */
  anyOpen(): boolean {
    return this.live.size > 0;
  }

  isOpen(id: ItemId): boolean {
    return this.live.has(id);
  }

  /** Whether reads of this item must come from its local copy. */
  hasCopy(id: ItemId): boolean {
    return this.live.has(id) || this.sourceOf(id) !== undefined;
  }

  /** Path of the item's local copy (what an upload sends), or undefined when it has none. */
  sourceOf(id: ItemId): string | undefined {
    const open = this.live.get(id);
    if (open !== undefined) return this.o.dirty.pathOf(open.copy);
    const copy = this.o.store.copyOf(id);
    if (copy === undefined || !this.o.dirty.exists(copy)) return undefined;
    return this.o.dirty.pathOf(copy);
  }

  /**
   * A read-only handle on the item's local copy as it is now, with its size (undefined without a copy): a replaced
   * inode keeps it (replaced-inodes.ts); the descriptor keeps the bytes once the copy itself is removed.
   */
  openForKeeping(id: ItemId): { content: ContentHandle; size: number } | undefined {
    const file = this.sourceOf(id);
    if (file === undefined) return undefined;
    const fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const content: ContentHandle = {
      readWith: (length, position, take) => settledNow(() => take(fd, position, length)),
      close: () => {
        fs.closeSync(fd);
        return Promise.resolve();
      },
    };
    return { content, size };
  }

  /**
   * Opens the item's local copy: the one already there (`existing`), a new empty one, or a full copy of the server
   * version (`server`: what is not cached yet is fetched first). A new copy's name is recorded in items.copy when
   * the item has a row; `create` records it in its own transaction.
   */
  async open(item: StoredItem, source: LocalSource, writer: boolean): Promise<LocalFile> {
    let f = this.live.get(item.id);
    if (f === undefined) {
      let p = this.opening.get(item.id);
      if (p === undefined) {
        p = this.make(item, source);
        this.opening.set(item.id, p);
        p.finally(() => this.opening.delete(item.id)).catch(() => undefined);
      }
      f = await p;
    }
    f.opens++;
    if (writer && f.writers++ === 0) this.o.store.hold(f.id);
    return f;
  }

  /** Closes one handle; returns true when it was the last one. */
  release(f: LocalFile, writer: boolean): boolean {
    f.opens--;
    if (writer && --f.writers === 0) {
      this.o.store.unhold(f.id);
      this.o.onWriterClosed?.(f.id);
    }
    if (f.opens > 0) return false;
    fs.closeSync(f.fd);
    if (this.live.get(f.id) === f) this.live.delete(f.id);
    if (f.unlinked) this.o.dirty.remove(f.copy);
    else if (!this.needsCopy(f.id)) this.drop(f.id, f.copy);
    return true;
  }

  /** Follows a re-key of an item (server id assigned): items.copy moved with the row, this moves the open file. */
  rekey(oldId: ItemId, newId: ItemId): void {
    const f = this.live.get(oldId);
    if (f === undefined) return;
    this.live.delete(oldId);
    f.id = newId;
    this.live.set(newId, f);
  }

  /**
   * Run inside the transaction that moves `src`'s content onto `target` (a save by rename-over), after src's row
   * is gone: target takes src's copy. Returns what to call once that transaction committed.
   */
  takeOver(src: ItemId, srcCopy: string, target: ItemId): () => void {
    const old = this.o.store.copyOf(target);
    this.o.store.setCopy(target, srcCopy);
    return () => {
      if (old !== undefined && old !== srcCopy) this.o.dirty.remove(old);
      this.rekey(src, target);
    };
  }

  /**
   * Whether this mount created `item` and nobody changed it since: the temp file of a save by rename-over whose
   * create went up before the rename (under --write-back 0 it may).
   */
  createdHere(item: StoredItem): boolean {
    return this.created.get(item.id) === item.etag;
  }

  /**
   * A new local copy holding `item`'s verified cached version, durable before the caller's transaction names it:
   * the cached file itself when no handle reads it, else a copy. Undefined when that version is not cached whole.
   */
  copyOfCached(item: StoredItem): string | undefined {
    const { dirty, cache } = this.o;
    const copy = dirty.newName();
    const file = dirty.pathOf(copy);
    try {
      if (item.size === 0) fs.writeFileSync(file, '', { mode: 0o600 });
      else if (!cache.takeOut(item.id, item.etag, file)) {
        const cached = cache.openVerified(item.id, item.etag);
        if (cached === undefined) return undefined;
        try {
          fs.copyFileSync(cached.path, file, fs.constants.COPYFILE_FICLONE);
        } finally {
          cached.release();
        }
      }
      fs.chmodSync(file, 0o600);
      fsyncPath(file);
      fsyncPath(dirty.dir);
      return copy;
    } catch (err) {
      dirty.remove(copy);
      throw err;
    }
  }

  /** The item's row is gone (unlink, rmdir, rename over it): its copy goes now, or at the last close if open. */
  discard(id: ItemId, copy: string | undefined): void {
    const f = this.live.get(id);
    if (f !== undefined) f.unlinked = true;
    else if (copy !== undefined) this.o.dirty.remove(copy);
  }

  /**
   * The server has the bytes of `owner`'s copy as `remote`: they become that version's verified cache entry (no
   * download of our own bytes), unless a handle still has the copy open or the server rewrote them.
   */
  uploaded(owner: ItemId, remote: RemoteItem, size: number, created: boolean): void {
    if (created) this.created.set(remote.id, remote.etag);
    if (this.live.has(owner)) return;
    const copy = this.o.store.copyOf(owner);
    if (copy === undefined) return;
    if (this.needsCopy(owner)) return; // changed again since: the copy is the next upload's source
    try {
      if (remote.size === size && this.o.dirty.exists(copy))
        this.o.cache.adopt(remote.id, remote.etag, this.o.dirty.pathOf(copy), size);
    } catch (err) {
      this.o.logger.warn({ err, id: remote.id }, 'could not keep the uploaded copy in the cache');
    }
    this.drop(owner, copy);
  }

  /** Start-up: keeps the copies pending uploads and local-only files need, removes every other file. */
  recover(): void {
    const { store, dirty } = this.o;
    const needed = new Set<string>();
    for (const { id, copy } of store.itemCopies()) {
      if (this.needsCopy(id) && dirty.exists(copy)) needed.add(copy);
      else store.setCopy(id, undefined);
    }
    const removed = dirty.sweep(needed);
    if (removed > 0) this.o.logger.info({ removed }, 'removed local copies no pending upload needs');
  }

  /** A copy is needed while its content is not on the server, and always for a local-only item (editor temp files). */
  private needsCopy(id: ItemId): boolean {
    const e = this.o.store.journal.get(id);
    if (e !== undefined) return e.content;
    return isLocalId(id) && this.o.store.getItem(id) !== undefined;
  }

  private drop(id: ItemId, copy: string): void {
    this.o.store.setCopy(id, undefined);
    this.o.dirty.remove(copy);
  }

  private async make(item: StoredItem, source: LocalSource): Promise<LocalFile> {
    const { store, dirty } = this.o;
    let copy = store.copyOf(item.id);
    let fd: number;
    if (copy !== undefined && source === 'existing' && dirty.exists(copy)) {
      fd = fs.openSync(dirty.pathOf(copy), 'r+');
    } else {
      if (copy !== undefined) dirty.remove(copy); // replaced (O_TRUNC) or gone
      if (source === 'existing')
        this.o.logger.warn({ id: item.id }, 'local copy missing; starting from empty');
      copy = dirty.newName();
      const file = dirty.pathOf(copy);
      if (source === 'server') await this.copyFromServer(item, file);
      fd = fs.openSync(file, source === 'server' ? 'r+' : 'w+', 0o600);
      store.setCopy(item.id, copy);
    }
    const st = fs.fstatSync(fd);
    const f: LocalFile = {
      id: item.id,
      copy,
      fd,
      size: st.size,
      mtimeMs: source === 'empty' ? Date.now() : item.modifiedMs,
      opens: 0,
      writers: 0,
      changed: false,
      unlinked: false,
      base: item.etag,
    };
    this.live.set(item.id, f);
    return f;
  }

  /** Writes the whole server version into a temp file, fsyncs it, then renames it into place. */
  private async copyFromServer(item: StoredItem, file: string): Promise<void> {
    const tmp = `${file}.fill`;
    const out = fs.openSync(tmp, 'w', 0o600);
    try {
      const content = await this.o.current.open(item, item.name);
      try {
        const buf = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
        let pos = 0;
        while (pos < item.size) {
          const n = await readInto(content, buf, Math.min(COPY_CHUNK_BYTES, item.size - pos), pos);
          if (n <= 0) break;
          fs.writeSync(out, buf, 0, n, pos);
          pos += n;
        }
      } finally {
        await content.close();
      }
      await new Promise<void>((res, rej) => fs.fsync(out, (err) => (err ? rej(err) : res())));
    } catch (err) {
      fs.closeSync(out);
      fs.rmSync(tmp, { force: true }); // the open fails (ESTALE, EIO): no half copy stays behind
      throw err;
    }
    fs.closeSync(out);
    fs.renameSync(tmp, file);
  }
}
