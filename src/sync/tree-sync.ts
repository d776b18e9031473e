// Keeps the metadata store in step with the library: the first-run sequence of digest §4.1 (policy, root, folder
// crawl, paged FullData) and the incremental change loop of §4.2, saving each token with the batch it ends. Items with
// pending local changes are never overwritten or deleted by a remote change; a foreign edit of one is reported.
import type { MetadataStore, StoredItem, StoredQuota, SyncState } from '../cache/metadata-store';
import { HttpStatusError, NotFoundError, ProtocolError } from '../protocol/errors';
import type {
  ChangePage,
  ChangesQuery,
  FileSyncApi,
  FileSyncWriteApi,
  Policy,
  RemoteItem,
  RequestPriority,
} from '../protocol/types';
import type { ItemId } from '../shared/ids';
import { systemClock, type Clock } from '../shared/clock';
import type { Logger } from '../shared/logger';
import { PagingProgress } from './paging-progress';
import { runPool } from './run-pool';
import { screenItems, toStoredItem } from './item-screen';
import { holdLocalChanges, type LocalChanges, type RemoteConflictHandler } from './local-changes';
import { ForegroundActivity } from './foreground-activity';

export interface TreeSyncOptions {
  api: FileSyncApi;
  store: MetadataStore;
  logger: Logger;
  /** Folders crawled at once during a full pass. Default 4. */
  crawlConcurrency?: number;
  /** Called once a full pass has stored the root (the mount may serve from then on; folders list on demand). */
  onRootStored?: () => void;
  /** The upload journal: items it holds keep their local state (default: none pending). */
  localChanges?: LocalChanges;
  /** Our X-CustomIdentity: a pending item coming back with it is our own write, not a conflict. */
  ownIdentity?: string;
  /** Told about a foreign change (or delete) of an item with pending local changes (the write path's conflict flow). */
  onRemoteConflict?: RemoteConflictHandler;
  /** The mount's foreground activity: the background pass steps aside for it (default: none). */
  activity?: ForegroundActivity;
  /** Looks one item up (E12): refreshes items whose changes were skipped while a local writer had them open. */
  lookup?: Pick<FileSyncWriteApi, 'item'>;
  /** Told as a full pass's folder crawl finds folders and its pages store items (first-mount progress). */
  onProgress?: (p: SyncProgress) => void;
  clock?: Clock;
}

export interface SyncProgress {
  /** Folders found by the crawl so far. */
  folders: number;
  /** Items known (stored) so far. */
  items: number;
}

export interface SyncResult {
  items: number;
  mode: 'full' | 'incremental';
}

const DEFAULT_CRAWL_CONCURRENCY = 4;
/** web3s.paging count for the folder crawl (the protocol allows up to 1000). */
const CRAWL_PAGE_SIZE = 100;
/**
 * Levels of sub-folders one crawl request asks for below a folder's own (E6 `Depth`, digest G9): a tree of folders
 * comes in one request instead of one per folder. Folders on the last level come without theirs and are crawled
 * next. 8 keeps an answer well inside the XML decoder's nesting bound (32 elements deep).
 */
const CRAWL_DEPTH = 8;
/** Guards against a server that keeps answering X-HasMoreData: True forever. */
const MAX_CHANGE_PAGES = 100_000;
/** Page size of a background FullData pass (see changesQuery). */
const BACKGROUND_PAGE_ITEMS = 100;

export class TreeSync {
  private readonly api: FileSyncApi;
  private readonly store: MetadataStore;
  private readonly logger: Logger;
  private readonly crawlConcurrency: number;
  private readonly onRootStored: (() => void) | undefined;
  private readonly hold: TreeSyncOptions;
  private readonly activity: ForegroundActivity;
  private running: Promise<SyncResult> | undefined;
  /** The policy read by the last full pass (or first incremental run): one request fewer per change sync. */
  private policy: Policy | undefined;
  /** When the last pass (full or incremental) completed, for `spfs status`. */
  private lastSuccessMs: number | undefined;
  /** What the running pass wrote and removed, and the folders its crawl found (logged once it completes). */
  private counts = { applied: 0, removed: 0, folders: 0 };

  constructor(opts: TreeSyncOptions) {
    this.api = opts.api;
    this.store = opts.store;
    this.logger = opts.logger;
    this.crawlConcurrency = Math.max(1, opts.crawlConcurrency ?? DEFAULT_CRAWL_CONCURRENCY);
    this.onRootStored = opts.onRootStored;
    this.hold = opts;
    this.activity = opts.activity ?? new ForegroundActivity();
  }

  /** Brings the store up to date: incremental from the saved token when there is one, else a full pass. */
  initialSync(): Promise<SyncResult> {
    return this.sync();
  }

  /** Same as initialSync; concurrent calls share one run. */
  sync(): Promise<SyncResult> {
    this.running ??= this.runLogged().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** When the last sync pass completed (ms since the epoch), or undefined before the first one in this process. */
  lastSuccessfulSync(): number | undefined {
    return this.lastSuccessMs;
  }

  /** One info line per pass that changed something (a pass with nothing new logs at debug: polling is frequent). */
  private async runLogged(): Promise<SyncResult> {
    this.counts = { applied: 0, removed: 0, folders: 0 };
    const result = await this.runOnce();
    this.lastSuccessMs = (this.hold.clock ?? systemClock).now();
    const line = { mode: result.mode, items: result.items, ...this.counts };
    if (result.mode === 'full' || this.counts.applied + this.counts.removed > 0)
      this.logger.info(line, 'sync pass done');
    else this.logger.debug(line, 'sync pass done');
    return result;
  }

  /** Rows the pass wrote (an item listed twice counts twice) and items it removed. */
  private applied(written: number, removed: number): void {
    this.counts.applied += written;
    this.counts.removed += removed;
    this.reportProgress();
  }

  private reportProgress(): void {
    if (this.hold.onProgress !== undefined)
      this.hold.onProgress({ folders: this.counts.folders, items: this.store.countItems() });
  }

  /** Re-reads the root folder's quota into the sync state. */
  async refreshQuota(): Promise<StoredQuota> {
    const { quota } = await this.api.rootFolder();
    const stored: StoredQuota = { state: quota.state, used: quota.used, granted: quota.granted };
    if (this.store.getSyncState() !== undefined) this.store.applyBatch([], [], { quota: stored });
    return stored;
  }

  private libraryKey(): string {
    return `${this.api.library.siteUrl}#${this.api.library.listId}`;
  }

  private async runOnce(): Promise<SyncResult> {
    await this.refreshMissed();
    const state = this.store.getSyncState();
    if (state?.token != null && state.libraryKey === this.libraryKey()) {
      this.policy ??= await this.api.policy();
      const done = await this.incremental(state, this.policy);
      if (done) return { items: this.store.countItems(), mode: 'incremental' };
    } else if (state !== undefined && state.libraryKey !== this.libraryKey()) {
      this.logger.warn('the database mirrors another library; starting over with a full pass');
    }
    await this.fullPass();
    return { items: this.store.countItems(), mode: 'full' };
  }

  /** Items whose server changes were skipped while a local writer had them open: their current server state. */
  private async refreshMissed(): Promise<void> {
    const lookup = this.hold.lookup;
    if (lookup === undefined) return;
    for (const id of this.store.takeMissed()) {
      const since = this.store.changeGeneration();
      try {
        const r = await lookup.item(id);
        this.store.applyBatch([toStoredItem(r)], [], undefined, since);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        this.store.applyBatch([], [id], undefined, since);
      }
    }
  }

  /** Follows the change feed from `state.token`; false when the server demands a full pass instead. */
  private async incremental(state: SyncState, policy: Policy): Promise<boolean> {
    let token = state.token ?? undefined;
    for (let n = 0; n < MAX_CHANGE_PAGES; n++) {
      const since = this.store.changeGeneration();
      const page = await this.api.changes(changesQuery(policy, token));
      switch (page.status) {
        case 'NoChanges':
          if (page.token !== undefined && page.token !== state.token)
            this.store.applyBatch([], [], { token: page.token });
          return true;
        case 'IncrementalChanges': {
          if (page.root.id !== state.rootId) {
            this.logger.warn({ old: state.rootId, now: page.root.id }, 'library root changed; full pass');
            return false;
          }
          const { upserts, deletes } = this.screen(page.items, state.rootId);
          const items = [this.rootItem(page.root), ...upserts];
          if (page.hasMore) {
            const sent = token;
            token = requireToken(page);
            this.store.applyBatch(items, deletes, undefined, since); // the token waits for the last page
            this.applied(upserts.length, deletes.length);
            requireProgress(sent, token);
            continue;
          }
          this.store.applyBatch(items, deletes, { token: requireToken(page) }, since);
          this.applied(upserts.length, deletes.length);
          return true;
        }
        case 'FullData':
          this.logger.info('server answered the saved token with FullData; full pass');
          return false;
        case 'CurrentSyncTokenOnly':
          this.logger.info('saved sync token no longer usable (CurrentSyncTokenOnly); restarting without it');
          return false;
        case 'ResyncNeeded':
          this.logger.warn(
            { action: page.resyncAction ?? 'ResetReupload' },
            'server asks for a resync; full pass',
          );
          return false;
      }
    }
    throw new ProtocolError(`change enumeration did not end after ${MAX_CHANGE_PAGES} pages`);
  }

  /** First-run sequence: policy, root + quota, folder crawl, then paged FullData; unseen items are swept. */
  private async fullPass(): Promise<void> {
    const policy = await this.api.policy();
    this.policy = policy;
    const { item: root, quota } = await this.api.rootFolder();
    const rootId = root.id;
    this.store.beginFullPass();
    try {
      this.store.applyBatch([this.rootItem(root)], [], {
        libraryKey: this.libraryKey(),
        listId: this.api.library.listId,
        rootId,
        token: null,
        quota: { state: quota.state, used: quota.used, granted: quota.granted },
      });
      this.onRootStored?.();
      this.applied(1, 0); // the root: a first mount's progress starts before it serves
      const folders = await this.crawl(rootId);
      this.logger.debug({ folders }, 'folder crawl done');
      let token: string | undefined;
      for (let n = 0; n < MAX_CHANGE_PAGES; n++) {
        await this.activity.quiet(); // a page costs the event loop ~100 ms: let streaming reads go first
        const since = this.store.changeGeneration();
        const page = await this.api.changes(changesQuery(policy, token, 'background'));
        // Parsing held the loop: let lookups and opens that queued meanwhile go before applying the page.
        await this.activity.turn();
        if (page.status !== 'FullData' && page.status !== 'IncrementalChanges') {
          throw new ProtocolError(`a full enumeration answered ${page.status}`);
        }
        if (page.root.id !== rootId) throw new ProtocolError('the library root changed during a full pass');
        const { upserts, deletes } = this.screen(page.items, rootId);
        const items = [this.rootItem(page.root), ...upserts];
        if (page.hasMore) {
          const sent = token;
          token = requireToken(page);
          this.store.applyBatch(items, deletes, undefined, since);
          this.applied(upserts.length, deletes.length);
          requireProgress(sent, token);
          continue;
        }
        // Items with pending local changes (and their folders) survive the sweep even if the pass did not see them.
        const kept = this.keptLocalItems();
        const result = this.store.endFullPass(
          { token: requireToken(page) },
          [...items, ...kept],
          deletes,
          since,
        );
        this.applied(upserts.length, deletes.length + result.deleted);
        return;
      }
      throw new ProtocolError(`change enumeration did not end after ${MAX_CHANGE_PAGES} pages`);
    } catch (err) {
      this.store.abandonFullPass();
      throw err;
    }
  }

  /** E6 on every folder, breadth first with a concurrency limit; returns how many folders were crawled. */
  private async crawl(rootId: ItemId): Promise<number> {
    return runPool([rootId], this.crawlConcurrency, (id) => this.crawlFolder(id, rootId));
  }

  /**
   * All pages of one folder's sub-folders, CRAWL_DEPTH levels down; returns the accepted folders of the last level
   * (they came without their own sub-folders) so the pool crawls them next.
   */
  private async crawlFolder(folderId: ItemId, rootId: ItemId): Promise<ItemId[]> {
    const found: ItemId[] = [];
    const progress = new PagingProgress(`crawl of folder ${folderId}`);
    let depth = CRAWL_DEPTH;
    for (let offset = 0; ;) {
      let page;
      const since = this.store.changeGeneration();
      try {
        page = await this.api.children(folderId, {
          foldersOnly: true,
          offset,
          count: CRAWL_PAGE_SIZE,
          depth,
          priority: 'background',
        });
      } catch (err) {
        if (err instanceof NotFoundError) {
          this.logger.info({ id: folderId }, 'folder vanished during the crawl');
          return found;
        }
        // A server that will not nest this much in one answer (the reference server: over 10,000 elements) is
        // asked one level at a time for this folder, as before.
        if (depth > 0 && err instanceof HttpStatusError && err.status === 400) {
          this.logger.debug(
            { id: folderId },
            'nested crawl refused (400); crawling this folder level by level',
          );
          depth = 0;
          continue;
        }
        throw err;
      }
      const onlyFolders = page.items.filter((r: RemoteItem) => r.kind === 'folder' && !r.deleted);
      const { upserts } = screenItems(onlyFolders, this.screenContext(rootId));
      this.store.applyBatch(upserts, [], undefined, since);
      const level = levelsBelow(folderId, onlyFolders);
      // A folder whose level is unknown (its parent was not in the answer) is crawled again rather than missed.
      for (const f of upserts) if ((level.get(f.id) ?? depth) >= depth) found.push(f.id);
      this.counts.folders += upserts.length;
      this.reportProgress();
      // Paging counts the folder's own children; what is nested under them came with them.
      const own = page.items.filter((r) => r.parentId === folderId).length;
      offset += own;
      if (!page.hasMore || own === 0) return found;
      progress.check(page.items, page.hasMore);
    }
  }

  /** screenItems, then holds back whatever would overwrite or delete an item with pending local changes. */
  private screen(
    remote: readonly RemoteItem[],
    rootId: ItemId,
  ): { upserts: StoredItem[]; deletes: ItemId[] } {
    const screened = screenItems(remote, this.screenContext(rootId));
    const { localChanges, ownIdentity, onRemoteConflict } = this.hold;
    if (localChanges === undefined) return screened;
    return holdLocalChanges(screened, remote, {
      store: this.store,
      localChanges,
      ownIdentity,
      onRemoteConflict,
      logger: this.logger,
    });
  }

  /** Stored rows of pending items and their ancestors, re-marked so a full pass's sweep keeps them. */
  private keptLocalItems(): StoredItem[] {
    const pending = this.hold.localChanges?.pendingIds();
    if (pending === undefined) return [];
    const out = new Map<ItemId, StoredItem>();
    for (const id of pending) {
      for (
        let cur = this.store.getItem(id);
        cur && !out.has(cur.id);
        cur = this.store.getItem(cur.parentId)
      ) {
        out.set(cur.id, cur);
      }
    }
    // Parents first, so each upsert finds its folder.
    return [...out.values()].reverse();
  }

  private screenContext(rootId: ItemId): { store: MetadataStore; rootId: ItemId; logger: Logger } {
    return { store: this.store, rootId, logger: this.logger };
  }

  private rootItem(root: RemoteItem): StoredItem {
    return toStoredItem(root);
  }
}

/** Each item's level below `folderId` (0: its own children), from a pre-order answer where parents come first. */
function levelsBelow(folderId: ItemId, items: readonly RemoteItem[]): Map<ItemId, number> {
  const level = new Map<ItemId, number>();
  for (const r of items) {
    const up = r.parentId === folderId ? -1 : level.get(r.parentId);
    if (up !== undefined) level.set(r.id, up + 1);
  }
  return level;
}

function changesQuery(policy: Policy, token: string | undefined, priority?: RequestPriority): ChangesQuery {
  // A background pass asks for small pages: parsing and applying one holds the event loop (~15 ms per 100 items
  // here), and a lookup or open arriving meanwhile waits for it (500-item pages: up to ~70 ms, and 60-180 ms times
  // to first byte right after mount; 100-item pages: 10-45 ms).
  const pageItems = priority === 'background' ? BACKGROUND_PAGE_ITEMS : policy.itemCount;
  const q: ChangesQuery = { maxItemCount: Math.min(policy.itemCount, pageItems) };
  if (priority !== undefined) q.priority = priority;
  if (token !== undefined) q.token = token;
  return q;
}

/**
 * A page that says X-HasMoreData: True must move the token on: one that hands back the token it was asked with would
 * be asked for again, forever (a hostile or broken server). Its items are applied; the pass stops here.
 */
function requireProgress(sent: string | undefined, next: string): void {
  if (sent === next) {
    throw new ProtocolError('change page: X-HasMoreData: True but X-SyncToken did not move (no progress)');
  }
}

function requireToken(page: ChangePage): string {
  if (page.token === undefined) throw new ProtocolError(`a ${page.status} page came without X-SyncToken`);
  return page.token;
}
