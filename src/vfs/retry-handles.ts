// Content confirmed for the kernel's retry of an open answered ESTALE: the open that met a version the server had
// replaced synced, opened the version the server has now (its first request's answer confirmed it), and keeps that
// handle here for a few seconds, so the retry (after the kernel looked the name up again and took the new size)
// reads exactly that version even if the server moves on once more meanwhile. Plain bookkeeping: handles are opened
// by the caller and closed here when not taken.
import type { StoredItem } from '../cache/metadata-store';
import type { ETag, ItemId } from '../shared/ids';
import type { ContentHandle } from '../sync/hydrator';

/** How long a confirmed handle waits for the kernel's retry (which comes within milliseconds). */
export const RETRY_HANDLE_MS = 5000;

interface Kept {
  etag: ETag;
  content: ContentHandle;
  timer: NodeJS.Timeout;
}

export class RetryHandles {
  private readonly byItem = new Map<ItemId, Kept>();

  /** Keeps `content`, the confirmed handle on `item`'s version (owned from here on; a newer one replaces it). */
  keep(item: StoredItem, content: ContentHandle): void {
    this.drop(item.id);
    const timer = setTimeout(() => this.drop(item.id), RETRY_HANDLE_MS);
    timer.unref();
    this.byItem.set(item.id, { etag: item.etag, content, timer });
  }

  /** The kept handle on exactly `item`'s version, now the caller's; undefined when there is none. */
  take(item: StoredItem): ContentHandle | undefined {
    const k = this.byItem.get(item.id);
    if (k === undefined || k.etag !== item.etag) return undefined;
    clearTimeout(k.timer);
    this.byItem.delete(item.id);
    return k.content;
  }

  private drop(id: ItemId): void {
    const k = this.byItem.get(id);
    if (k === undefined) return;
    clearTimeout(k.timer);
    this.byItem.delete(id);
    void k.content.close();
  }
}
