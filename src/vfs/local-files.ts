// Open local copies of documents being written: one shared fd per item on its dirty file (so every handle reads
// the others' writes), created empty, or as a full copy of the server version (fetched through the Hydrator).
import * as fs from 'node:fs';
import type { DirtyFiles } from '../cache/dirty-files';
import type { StoredItem } from '../cache/metadata-store';
import type { ItemId } from '../shared/ids';
import type { Hydrator } from '../sync/hydrator';

const COPY_CHUNK_BYTES = 1024 * 1024;

export interface LocalFile {
  id: ItemId;
  fd: number;
  size: number;
  mtimeMs: number;
  opens: number;
  writers: number;
  /** Written since the last flush recorded it in the journal. */
  changed: boolean;
  /** The item was unlinked while open: the file goes when the last handle closes. */
  unlinked: boolean;
}

export type LocalSource = 'existing' | 'empty' | 'server';

export class LocalFiles {
  private readonly live = new Map<ItemId, LocalFile>();
  private readonly opening = new Map<ItemId, Promise<LocalFile>>();

  constructor(
    private readonly dirty: DirtyFiles,
    private readonly hydrator: Hydrator,
  ) {}

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

  /**
   * Opens the item's local copy: the dirty file already there (`existing`), a new empty one, or a full copy of
   * the server version (`server`: what is not cached yet is fetched first).
   */
  async open(item: StoredItem, source: LocalSource, writer: boolean): Promise<LocalFile> {
    let f = this.live.get(item.id);
    if (f === undefined) {
      let p = this.opening.get(item.id);
      if (p === undefined) {
        p = this.create(item, source);
        this.opening.set(item.id, p);
        p.finally(() => this.opening.delete(item.id)).catch(() => undefined);
      }
      f = await p;
    }
    f.opens++;
    if (writer) f.writers++;
    return f;
  }

  /** Closes one handle; returns true when it was the last one. */
  release(f: LocalFile, writer: boolean): boolean {
    f.opens--;
    if (writer) f.writers--;
    if (f.opens > 0) return false;
    fs.closeSync(f.fd);
    if (this.live.get(f.id) === f) this.live.delete(f.id);
    if (f.unlinked) this.dirty.remove(f.id);
    return true;
  }

  /** Follows a re-key of an item (server id assigned, or content moved to the item a rename replaced). */
  rekey(oldId: ItemId, newId: ItemId): void {
    const f = this.live.get(oldId);
    if (f === undefined) return;
    this.live.delete(oldId);
    f.id = newId;
    this.live.set(newId, f);
  }

  private async create(item: StoredItem, source: LocalSource): Promise<LocalFile> {
    const file = this.dirty.pathOf(item.id);
    if (source === 'server' && !this.dirty.exists(item.id)) await this.copyFromServer(item, file);
    const fd = fs.openSync(file, source === 'empty' ? 'w+' : 'r+', 0o600);
    const st = fs.fstatSync(fd);
    const f: LocalFile = {
      id: item.id,
      fd,
      size: st.size,
      mtimeMs: source === 'empty' ? Date.now() : item.modifiedMs,
      opens: 0,
      writers: 0,
      changed: false,
      unlinked: false,
    };
    this.live.set(item.id, f);
    return f;
  }

  /** Writes the whole server version into a temp file, then renames it into place. */
  private async copyFromServer(item: StoredItem, file: string): Promise<void> {
    const tmp = `${file}.fill`;
    const out = fs.openSync(tmp, 'w', 0o600);
    try {
      const content = await this.hydrator.open(item);
      try {
        const buf = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
        let pos = 0;
        while (pos < item.size) {
          const n = await content.read(buf, Math.min(COPY_CHUNK_BYTES, item.size - pos), pos);
          if (n <= 0) break;
          fs.writeSync(out, buf, 0, n, pos);
          pos += n;
        }
      } finally {
        await content.close();
      }
    } finally {
      fs.closeSync(out);
    }
    fs.renameSync(tmp, file);
  }
}
