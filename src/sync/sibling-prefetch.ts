// Small files read one after another in a folder (`cp -r`, `tar c`, `rsync`, a file manager's thumbnails): once two
// opens in a row go forward in the folder's name order, the next small documents after the last one opened are
// downloaded whole in parallel, so the program's next open finds them cached instead of waiting for its own request.
// Read-ahead within a file cannot help there: each file is one small request, and its latency is the cost. A guess
// only fills free room in the cache: it never evicts content that was read.
import { LRUCache } from 'lru-cache';
import type { ContentCache } from '../cache/content-cache';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { foldName } from '../shared/names';
import type { Hydrator } from './hydrator';

/** Decides how far ahead to fetch from the order of opens (plain logic, no I/O). */
export class SequentialOpens {
  /** Per folder: the last name opened (folded) and how many opens in a row went forward. */
  private readonly folders = new LRUCache<ItemId, { name: string; streak: number }>({ max: 64 });

  constructor(private readonly maxAhead: number) {}

  /** Notes an open of `name` in `folder`; returns how many following siblings to have fetched (0: none). */
  observe(folder: ItemId, name: string): number {
    const folded = foldName(name);
    const last = this.folders.get(folder);
    if (last !== undefined && last.name === folded) return 0; // the same file again (a probe, then the real open)
    const streak = last !== undefined && folded > last.name ? last.streak + 1 : 1;
    this.folders.set(folder, { name: folded, streak });
    if (streak < 2) return 0;
    return Math.min(this.maxAhead, 2 ** (streak - 1));
  }
}

export interface SiblingPrefetchOptions {
  store: MetadataStore;
  cache: ContentCache;
  hydrator: Hydrator;
  logger: Logger;
  /** Documents fetched ahead at most, and downloads in flight at most (0 turns prefetching off). */
  maxAhead: number;
  /** Only documents up to this size are fetched ahead (a large one streams well on its own read-ahead). */
  maxFileBytes: number;
  connectivity?: { readonly online: boolean };
}

/** Default of `--prefetch-files`. */
export const DEFAULT_PREFETCH_FILES = 4;
export const PREFETCH_MAX_FILE_BYTES = 8 * 1024 * 1024;

export class SiblingPrefetch {
  private readonly pattern: SequentialOpens;
  /** Documents being fetched ahead, by id. */
  private readonly inFlight = new Set<ItemId>();
  private queue: StoredItem[] = [];
  /** Bytes the open that queued them still has to fetch: room kept for the program's own read. */
  private openerNeeds = 0;
  private closed = false;
  private fetched = 0;

  constructor(private readonly o: SiblingPrefetchOptions) {
    this.pattern = new SequentialOpens(o.maxAhead);
  }

  /** Called for every open of a document for reading (cached or not). */
  noteOpen(item: StoredItem): void {
    if (this.closed || this.o.maxAhead === 0 || item.kind !== 'document') return;
    const ahead = this.pattern.observe(item.parentId, item.name);
    if (ahead === 0) return;
    if (this.o.connectivity !== undefined && !this.o.connectivity.online) return;
    // What the program has passed is no longer worth fetching; what follows the file it opened now is.
    this.openerNeeds = this.o.cache.hasVerified(item.id, item.etag) ? 0 : item.size;
    this.queue = this.o.store
      .documentsAfter(item.parentId, foldName(item.name), ahead)
      .filter(
        (d) =>
          d.size > 0 &&
          d.size <= this.o.maxFileBytes &&
          d.downloadUrl !== undefined &&
          !this.inFlight.has(d.id) &&
          !this.o.cache.hasVerified(d.id, d.etag),
      );
    this.pump();
  }

  /** Documents fetched ahead since start. */
  get fetchedCount(): number {
    return this.fetched;
  }

  /** Documents queued or being fetched ahead now (set synchronously by noteOpen). */
  get pendingCount(): number {
    return this.inFlight.size + this.queue.length;
  }

  close(): void {
    this.closed = true;
    this.queue = [];
  }

  private pump(): void {
    while (!this.closed && this.inFlight.size < this.o.maxAhead && this.queue.length > 0) {
      const item = this.queue.shift() as StoredItem;
      // A guess never evicts what was read: only free room in the cache is used.
      if (!this.o.cache.hasRoomFor(item.size + this.openerNeeds)) {
        this.queue = [];
        return;
      }
      this.inFlight.add(item.id);
      this.o.hydrator
        .hydrateWhole(item, () => Promise.resolve())
        .then(
          () => this.fetched++,
          // A prefetch is a guess: a failure (cache full, offline, a server error) is the program's own read to
          // meet, with its own errno, if it opens the file at all.
          (err: unknown) =>
            this.o.logger.debug({ id: item.id, name: item.name, err }, 'prefetch of a sibling failed'),
        )
        .finally(() => {
          this.inFlight.delete(item.id);
          this.pump();
        });
    }
  }
}
