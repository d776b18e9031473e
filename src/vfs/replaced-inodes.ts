// Inodes whose item a rename over it (or a remote delete) replaced while the kernel still held the number: as a local
// disk keeps a replaced file's inode readable by whoever had already found it, each keeps the content it had (a
// descriptor on its local copy or on its verified cached version) until the kernel forgets the number. Only the
// libfuse3 adapter addresses inodes, so only it records any (SpfsFilesystem.trackKernel). Plain bookkeeping: the
// kept content is opened by the caller and closed here.
import type { StoredItem } from '../cache/metadata-store';
import type { ContentHandle } from '../sync/hydrator';

interface Replaced {
  /** The item as it was when replaced; its size is what the kept content holds. */
  item: StoredItem;
  content: ContentHandle;
  opens: number;
  forgotten: boolean;
}

export class ReplacedInodes {
  private readonly byIno = new Map<number, Replaced>();

  /** `ino` was replaced while held: it keeps `item` with `content` (owned from here on; the first one kept wins). */
  add(ino: number, item: StoredItem, content: ContentHandle): void {
    if (this.byIno.has(ino)) return void content.close();
    this.byIno.set(ino, { item, content, opens: 0, forgotten: false });
  }

  itemOf(ino: number): StoredItem | undefined {
    return this.byIno.get(ino)?.item;
  }

  /** A read-only handle on what `ino` held; undefined when it was not replaced. */
  open(ino: number): ContentHandle | undefined {
    const r = this.byIno.get(ino);
    if (r === undefined) return undefined;
    r.opens++;
    let closed = false;
    return {
      readWith: (length, position, take) => r.content.readWith(length, position, take),
      close: () => {
        if (closed) return Promise.resolve();
        closed = true;
        r.opens--;
        return this.closeIfDone(ino, r);
      },
    };
  }

  /** FORGET brought the kernel's count to zero: the content goes once no handle reads it. */
  forget(ino: number): Promise<void> {
    const r = this.byIno.get(ino);
    if (r === undefined) return Promise.resolve();
    r.forgotten = true;
    return this.closeIfDone(ino, r);
  }

  get size(): number {
    return this.byIno.size;
  }

  private closeIfDone(ino: number, r: Replaced): Promise<void> {
    if (!r.forgotten || r.opens > 0 || this.byIno.get(ino) !== r) return Promise.resolve();
    this.byIno.delete(ino);
    return Promise.resolve().then(() => r.content.close());
  }
}
