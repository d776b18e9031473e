// Lists one folder on demand (E6 `Items/{id}`, paged, documents included) while the first full pass has not yet
// delivered its documents; one listing per folder at a time, then the folder is marked children_complete.
import type { ListingState } from '../cache/listing-state';
import type { MetadataStore } from '../cache/metadata-store';
import { NotFoundError } from '../protocol/errors';
import type { FileSyncApi } from '../protocol/types';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { screenItems } from './item-screen';
import { PagingProgress } from './paging-progress';

/** web3s.paging count of a lazy listing (the protocol's maximum). */
const LISTING_PAGE_SIZE = 1000;

export interface FolderListerOptions {
  api: FileSyncApi;
  store: MetadataStore;
  state: ListingState;
  logger: Logger;
  pageSize?: number;
}

export class FolderLister {
  private readonly inFlight = new Map<ItemId, Promise<void>>();
  private readonly pageSize: number;

  constructor(private readonly o: FolderListerOptions) {
    this.pageSize = Math.min(LISTING_PAGE_SIZE, Math.max(1, o.pageSize ?? LISTING_PAGE_SIZE));
  }

  /** True when the folder's children are all in the store already. */
  isComplete(folderId: ItemId): boolean {
    return this.o.state.isComplete(folderId);
  }

  /**
   * Resolves once every child of the folder is in the store: at once when it is complete, else after one listing
   * (concurrent callers share it). A failed listing rejects; the next call tries again.
   */
  ensureListed(folderId: ItemId): Promise<void> {
    if (this.isComplete(folderId)) return Promise.resolve();
    let running = this.inFlight.get(folderId);
    if (running === undefined) {
      running = this.list(folderId).finally(() => this.inFlight.delete(folderId));
      this.inFlight.set(folderId, running);
    }
    return running;
  }

  private async list(folderId: ItemId): Promise<void> {
    const rootId = this.o.store.rootId();
    if (rootId === undefined) return;
    const started = Date.now();
    let count = 0;
    const progress = new PagingProgress(`listing of folder ${folderId}`);
    for (let offset = 0; ;) {
      let page;
      const since = this.o.store.changeGeneration();
      try {
        page = await this.o.api.children(folderId, {
          foldersOnly: false,
          offset,
          count: this.pageSize,
          depth: 0,
        });
      } catch (err) {
        if (err instanceof NotFoundError) {
          this.o.logger.info({ id: folderId }, 'folder vanished before it could be listed');
          return;
        }
        throw err;
      }
      // Idempotent upserts by ResourceID: the background FullData pass may store the same items before or after.
      const live = page.items.filter((r) => !r.deleted && r.parentId === folderId);
      const { upserts } = screenItems(live, { store: this.o.store, rootId, logger: this.o.logger });
      this.o.store.applyBatch(upserts, [], undefined, since);
      count += upserts.length;
      offset += page.items.length;
      if (!page.hasMore || page.items.length === 0) break;
      progress.check(page.items, page.hasMore);
    }
    this.o.store.markListed(folderId);
    this.o.logger.debug({ id: folderId, items: count, ms: Date.now() - started }, 'folder listed on demand');
  }
}
