// SQLite-backed mirror of one library's tree and its sync state. Every batch of server changes, and the token that
// follows it, is applied in one transaction, so a crash replays a page instead of losing or half-applying it.
import type { Statement } from 'better-sqlite3';
import type { Clock } from '../shared/clock';
import { InvalidInputError } from '../shared/errors';
import { systemClock } from '../shared/clock';
import type { ETag, ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { silentLogger } from '../shared/logger';
import { foldName } from '../shared/names';
import { CacheIndex } from './cache-index';
import { PinIndex } from './pin-index';
import { openDatabase, type Db } from './schema';
import type { StoredItem, SyncState } from './types';
import { UploadJournal } from './upload-journal';

export type { StoredItem, StoredKind, StoredQuota, SyncState } from './types';

interface ItemRow {
  id: string;
  parent_id: string;
  name: string;
  name_folded: string;
  kind: 'folder' | 'document';
  size: number;
  etag: string;
  hash: string | null;
  download_url: string | null;
  mime: string | null;
  created_ms: number;
  modified_ms: number;
  pass_mark: number;
}

interface StateRow {
  library_key: string;
  list_id: string;
  root_id: string;
  token: string | null;
  quota_used: number;
  quota_granted: number;
  quota_state: string;
  updated_ms: number;
}

export interface BatchResult {
  upserted: number;
  deleted: number;
  /** Items left out because their (parent, folded name) slot belongs to another item. */
  skipped: ItemId[];
  /**
   * Items this batch added, moved, renamed, changed or deleted: what a kernel may hold stale, including a cached
   * "no such name" where an item now is.
   */
  touched: ItemId[];
  /** Folders whose listing this batch changed (an item added, deleted, renamed, or moved in or out). */
  folders: ItemId[];
}

/**
 * Told after a commit which stored items changed under the kernel's feet ('all' after a full pass swept some), and
 * which folders' listings changed (a kernel may cache a listing, not only the names in it).
 */
export type ItemsChangedListener = (ids: readonly ItemId[] | 'all', folders: readonly ItemId[]) => void;
/** Told of a document row server data is about to delete, inside that transaction (replaced inodes keep it). */
export type RemovingListener = (item: StoredItem) => void;

export interface MetadataStoreOptions {
  logger?: Logger;
  clock?: Clock;
}

/** Local changes remembered for the stale-page rule at least, and for how long beyond that. */
const LOCAL_CHANGES_KEPT = 10_000;
const LOCAL_CHANGE_TTL_MS = 10 * 60_000;

/** Prefix of a parked name: can't collide with a real folded name (control characters are rejected upstream). */
const PARK_PREFIX = '\u0000park:';

/** Insert or update of one item by ResourceID; the same etag keeps the hydration state, a new version is no longer
 * the cached one. The server's upsert adds the pass mark and the pending-change guard to it. */
const UPSERT_ITEM_SQL = `
  INSERT INTO items (id, parent_id, name, name_folded, kind, size, etag, hash, download_url, mime,
                     created_ms, modified_ms, pass_mark)
  VALUES (@id, @parent_id, @name, @name_folded, @kind, @size, @etag, @hash, @download_url, @mime,
          @created_ms, @modified_ms, @pass_mark)
  ON CONFLICT (id) DO UPDATE SET
    parent_id = excluded.parent_id, name = excluded.name, name_folded = excluded.name_folded,
    kind = excluded.kind, size = excluded.size, etag = excluded.etag, hash = excluded.hash,
    download_url = excluded.download_url, mime = excluded.mime, created_ms = excluded.created_ms,
    -- A folder's mtime never goes back: our own touches (create, unlink, rename inside it) are newer than the
    -- server's second-resolution time of the same moment, which an upload result or a change page brings later.
    modified_ms = CASE WHEN excluded.kind = 'folder' THEN MAX(items.modified_ms, excluded.modified_ms)
                       ELSE excluded.modified_ms END,
    hydration = CASE WHEN items.etag = excluded.etag THEN items.hydration ELSE 'online' END`;

export class MetadataStore {
  readonly cacheIndex: CacheIndex;
  /** Local changes waiting for upload (write path); items with a row here are never overwritten by server data. */
  readonly journal: UploadJournal;
  /** Pinned subtrees and the pinned documents still to hydrate. */
  readonly pins: PinIndex;
  private readonly logger: Logger;
  private readonly clock: Clock;
  /** Generation of the full pass in progress (mark-and-sweep), or undefined outside one. */
  private passGen: number | undefined;
  /** Counts local changes (write ops and upload results); see changeGeneration(). */
  private generation = 0;
  /** Item id → generation and time of its last local change, so a server page fetched before it can't undo it. */
  private readonly localChanges = new Map<ItemId, { gen: number; atMs: number }>();
  /** changeGeneration() when the full pass in progress began. */
  private passSince = 0;
  /** Items open for writing here: server data leaves them alone until the last writer closed (see hold()). */
  private readonly held = new Set<ItemId>();
  private itemsChanged: ItemsChangedListener | undefined;
  private removingListener: RemovingListener | undefined;
  private pendingAnnounce: ItemId[] | 'all' = [];
  private pendingFolders: ItemId[] = [];
  /** Held items server data skipped: their server state is looked up again (takeMissed). */
  private readonly missed = new Set<ItemId>();
  /** Unknown items server data put where a create of ours was sent (folder/name key): looked up again once it settled. */
  private readonly atSentSlots = new Map<ItemId, string>();
  /** rootId()'s answer; null: not read since the sync state last changed. */
  private knownRoot: ItemId | undefined | null = null;
  private readonly q: {
    get: Statement<[string], ItemRow>;
    child: Statement<[string, string], ItemRow>;
    children: Statement<[string], ItemRow>;
    documentsAfter: Statement<[string, string, number], ItemRow>;
    count: Statement<[], { n: number }>;
    upsert: Statement<unknown[]>;
    park: Statement<[string, string]>;
    deleteTree: Statement<[string]>;
    deleteOne: Statement<[string]>;
    subtreeSuffixes: Statement<[string], { suffix: string }>;
    state: Statement<[], StateRow>;
    putState: Statement<unknown[]>;
    maxMark: Statement<[], { m: number | null }>;
    sweep: Statement<[number]>;
    setPinned: Statement<[number, string]>;
    mark: Statement<[number, string]>;
    putLocal: Statement<unknown[]>;
    rekeyItem: Statement<[string, string]>;
    rekeyChildren: Statement<[string, string]>;
    folderComplete: Statement<[string]>;
    allFoldersComplete: Statement<[]>;
    copyOf: Statement<[string], { copy: string | null }>;
    setCopy: Statement<[string | null, string]>;
    copies: Statement<[], { id: string; copy: string }>;
    touch: Statement<[number, string]>;
  };

  private constructor(
    private readonly db: Db,
    opts: MetadataStoreOptions,
  ) {
    this.logger = opts.logger ?? silentLogger();
    this.clock = opts.clock ?? systemClock;
    this.cacheIndex = new CacheIndex(db);
    this.pins = new PinIndex(db);
    this.journal = new UploadJournal(
      db,
      () => this.clock.now(),
      (id) => this.noteLocalChange(id),
    );
    this.q = {
      get: db.prepare('SELECT * FROM items WHERE id = ?'),
      child: db.prepare('SELECT * FROM items WHERE parent_id = ? AND name_folded = ?'),
      children: db.prepare('SELECT * FROM items WHERE parent_id = ? ORDER BY name_folded'),
      documentsAfter: db.prepare(
        `SELECT * FROM items WHERE parent_id = ? AND name_folded > ? AND kind = 'document'
         ORDER BY name_folded LIMIT ?`,
      ),
      count: db.prepare('SELECT COUNT(*) AS n FROM items'),
      // Server data: never over an item with pending local changes (the journal).
      upsert: db.prepare(`${UPSERT_ITEM_SQL},
          pass_mark = MAX(items.pass_mark, excluded.pass_mark)
        WHERE items.id NOT IN (SELECT item_id FROM upload_journal)`),
      park: db.prepare('UPDATE items SET name_folded = ? WHERE id = ?'),
      deleteTree: db.prepare(`
        WITH RECURSIVE sub(id) AS (SELECT ? UNION SELECT i.id FROM items i JOIN sub ON i.parent_id = sub.id)
        DELETE FROM items WHERE id IN sub AND id NOT IN (SELECT item_id FROM upload_journal)`),
      deleteOne: db.prepare('DELETE FROM items WHERE id = ?'),
      // Depth-bounded: a 400-character path has at most 200 levels, and stored data could hold a cycle.
      subtreeSuffixes: db.prepare(`
        WITH RECURSIVE sub(id, suffix, depth) AS (
          SELECT ?, '', 0
          UNION ALL SELECT i.id, sub.suffix || '/' || i.name, sub.depth + 1 FROM items i JOIN sub ON i.parent_id = sub.id
            WHERE sub.depth < 200)
        SELECT suffix FROM sub`),
      state: db.prepare('SELECT * FROM sync_state WHERE slot = 1'),
      putState: db.prepare(`
        INSERT OR REPLACE INTO sync_state (slot, library_key, list_id, root_id, token, quota_used, quota_granted,
                                           quota_state, updated_ms)
        VALUES (1, @library_key, @list_id, @root_id, @token, @quota_used, @quota_granted, @quota_state, @updated_ms)`),
      maxMark: db.prepare('SELECT MAX(pass_mark) AS m FROM items'),
      // Items with pending local changes (and local items the server has never seen) survive a full pass.
      sweep: db.prepare(`
        DELETE FROM items WHERE pass_mark < ? AND id NOT LIKE 'local-%'
          AND id NOT IN (SELECT item_id FROM upload_journal)`),
      setPinned: db.prepare('UPDATE items SET pinned = ? WHERE id = ?'),
      mark: db.prepare('UPDATE items SET pass_mark = ? WHERE id = ?'),
      // The write path's own upsert: no pending-change guard (it is the pending change).
      putLocal: db.prepare(UPSERT_ITEM_SQL),
      rekeyItem: db.prepare('UPDATE items SET id = ? WHERE id = ?'),
      rekeyChildren: db.prepare('UPDATE items SET parent_id = ? WHERE parent_id = ?'),
      folderComplete: db.prepare("UPDATE items SET children_complete = 1 WHERE id = ? AND kind = 'folder'"),
      allFoldersComplete: db.prepare("UPDATE items SET children_complete = 1 WHERE kind = 'folder'"),
      copyOf: db.prepare('SELECT copy FROM items WHERE id = ?'),
      setCopy: db.prepare('UPDATE items SET copy = ? WHERE id = ?'),
      copies: db.prepare('SELECT id, copy FROM items WHERE copy IS NOT NULL'),
      touch: db.prepare("UPDATE items SET modified_ms = ? WHERE id = ? AND kind = 'folder'"),
    };
  }

  static open(file: string, opts: MetadataStoreOptions = {}): MetadataStore {
    return new MetadataStore(openDatabase(file), opts);
  }

  /** The library root's id, remembered: every attribute reply asks (its inode is 1). */
  rootId(): ItemId | undefined {
    if (this.knownRoot === null) this.knownRoot = this.q.state.get()?.root_id as ItemId | undefined;
    return this.knownRoot;
  }

  getItem(id: ItemId): StoredItem | undefined {
    const row = this.q.get.get(id);
    return row && toItem(row);
  }

  /** Case-insensitive, as SharePoint compares names. */
  getChild(parentId: ItemId, name: string): StoredItem | undefined {
    const row = this.q.child.get(parentId, foldName(name));
    return row && toItem(row);
  }

  /** Length of the longest `/child/grandchild...` path below a folder (0 for an empty one), in UTF-16 units. */
  longestPathBelow(folderId: ItemId): number {
    let longest = 0;
    for (const { suffix } of this.q.subtreeSuffixes.iterate(folderId))
      longest = Math.max(longest, suffix.length);
    return longest;
  }

  listChildren(parentId: ItemId): StoredItem[] {
    return this.q.children.all(parentId).map(toItem);
  }

  /** The first `limit` documents after `nameFolded` in the folder's listing order (sibling prefetch). */
  documentsAfter(parentId: ItemId, nameFolded: string, limit: number): StoredItem[] {
    return this.q.documentsAfter.all(parentId, nameFolded, limit).map(toItem);
  }

  /** A pinned item is kept offline: its cached content is never evicted. */
  setPinned(id: ItemId, pinned: boolean): void {
    this.q.setPinned.run(pinned ? 1 : 0, id);
  }

  /** Runs `fn` in one SQLite transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Writes an item as the local filesystem sees it (write path), without the pending-change guard. */
  putLocalItem(item: StoredItem): void {
    this.q.putLocal.run(toRow(item, foldName(item.name), 0));
    this.noteLocalChange(item.id);
  }

  /** Removes one item row (write path: an unlinked file or an empty folder). */
  removeItem(id: ItemId): void {
    this.q.deleteOne.run(id);
    this.noteLocalChange(id);
  }

  /**
   * A counter that moves on every local change and upload result. Change sync takes it before fetching a page and
   * passes it to applyBatch: an item changed locally since then keeps its local state, because the page may predate
   * that change reaching the server (a stale page must not bring back a deleted file, an old name or an old ETag).
   */
  changeGeneration(): number {
    return this.generation;
  }

  /**
   * A handle writes to the item: until unhold(), a remote edit, rename or delete of it is not applied (the writer's
   * close records the change against the version it started from, so the conflict rules decide, whichever side
   * came first).
   */
  hold(id: ItemId): void {
    this.held.add(id);
  }

  unhold(id: ItemId): void {
    this.held.delete(id);
  }

  /** Items whose server changes were skipped while held and that have no pending change now: look them up again. */
  takeMissed(): ItemId[] {
    const out = [...this.missed].filter((id) => !this.held.has(id) && !this.journal.hasPendingChange(id));
    for (const id of out) this.missed.delete(id);
    if (this.atSentSlots.size > 0) {
      const sent = this.journal.sentSlots(foldName);
      for (const [id, slot] of this.atSentSlots) {
        if (sent.has(slot)) continue;
        this.atSentSlots.delete(id);
        out.push(id);
      }
    }
    return out;
  }

  /**
   * An item the store does not know, where a create of ours was sent and not confirmed: most likely that very create
   * (its reply lost to a kill). The uploader adopts or removes it; until then server data does not add it as a copy.
   */
  private skipAtSentSlot(item: StoredItem, sent: ReadonlySet<string>): boolean {
    if (sent.size === 0) return false;
    const slot = `${item.parentId}/${foldName(item.name)}`;
    if (!sent.has(slot) || this.q.get.get(item.id) !== undefined) return false;
    this.atSentSlots.set(item.id, slot);
    return true;
  }

  private skipHeld(id: ItemId): boolean {
    if (!this.held.has(id)) return false;
    this.missed.add(id);
    return true;
  }

  private noteLocalChange(id: ItemId): void {
    const now = this.clock.now();
    this.localChanges.set(id, { gen: ++this.generation, atMs: now });
    if (this.localChanges.size > LOCAL_CHANGES_KEPT) {
      // No page fetch takes minutes: older entries can't matter any more.
      for (const [k, v] of this.localChanges)
        if (now - v.atMs > LOCAL_CHANGE_TTL_MS) this.localChanges.delete(k);
    }
  }

  /** Whether the item changed locally after generation `since` (so server data fetched at `since` is stale for it). */
  private changedSince(id: ItemId, since: number | undefined): boolean {
    if (since === undefined) return false;
    return (this.localChanges.get(id)?.gen ?? -1) > since;
  }

  /**
   * A local entry change in the folder moves its mtime (POSIX). Not a local change of the folder itself: the server's
   * next version of it still applies.
   */
  touchFolder(id: ItemId, ms: number): void {
    this.q.touch.run(ms, id);
  }

  /** File name of the item's local copy in dirty/ (write path), if it has one. */
  copyOf(id: ItemId): string | undefined {
    return this.q.copyOf.get(id)?.copy ?? undefined;
  }

  setCopy(id: ItemId, copy: string | undefined): void {
    this.q.setCopy.run(copy ?? null, id);
  }

  /** Every item that has a local copy (start-up recovery). */
  itemCopies(): Array<{ id: ItemId; copy: string }> {
    return this.q.copies.all().map((r) => ({ id: r.id as ItemId, copy: r.copy }));
  }

  /** Records that a listing stored every child of the folder (ListingState.isComplete reads it). */
  markListed(folderId: ItemId): void {
    this.q.folderComplete.run(folderId);
  }

  /** Gives an item the ResourceID the server assigned: its row, its children's parent links, its journal row. */
  rekeyItem(oldId: ItemId, newId: ItemId): void {
    this.db.transaction(() => {
      // A row the change feed already stored for that id (our own upload coming back) gives way to ours.
      if (!this.journal.hasPendingChange(newId)) this.q.deleteOne.run(newId);
      this.q.rekeyItem.run(newId, oldId);
      this.q.rekeyChildren.run(newId, oldId);
      // A folder made here has every child in the table (nothing else could be put in it before the server knew
      // it): a lookup in it must not wait for a listing after its re-key, while a full pass runs.
      this.q.folderComplete.run(newId);
      this.journal.rekey(oldId, newId);
    })();
    this.noteLocalChange(oldId);
    this.noteLocalChange(newId);
    if (this.held.delete(oldId)) this.held.add(newId);
  }

  /** Runs `fn` with SQLite's synchronous=FULL, so the transactions it commits survive a power cut. */
  durably<T>(fn: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return fn();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  countItems(): number {
    return this.q.count.get()?.n ?? 0;
  }

  getSyncState(): SyncState | undefined {
    const row = this.q.state.get();
    return row && toState(row);
  }

  /**
   * Applies server changes in one transaction: deletes (whole subtrees) first, then upserts by ResourceID in order,
   * then the sync-state patch. A patch without an existing state must carry libraryKey, listId and rootId. `since`
   * is changeGeneration() from before the data was fetched: items with a pending local change, or changed locally
   * since, are left as they are.
   */
  applyBatch(
    items: readonly StoredItem[],
    deletes: readonly ItemId[],
    state?: Partial<SyncState>,
    since?: number,
  ): BatchResult {
    const result = this.db.transaction(() => {
      const r = this.applyItems(items, deletes, since);
      if (state) this.putState(state);
      return r;
    })();
    this.announceAfterCommit(result.touched, result.folders);
    return result;
  }

  /** One listener (the mount's kernel invalidation) for items changed other than through the kernel. */
  onItemsChanged(listener: ItemsChangedListener | undefined): void {
    this.itemsChanged = listener;
  }

  /** One listener (the filesystem's replaced inodes) for documents a change page deletes. */
  onRemoving(listener: RemovingListener | undefined): void {
    this.removingListener = listener;
  }

  /**
   * The daemon changed these items on its own (a conflict copy, a local version replaced by the server's), and the
   * listings of `folders` with them: tell the listener once the surrounding transaction has committed (now, outside
   * one).
   */
  announce(ids: readonly ItemId[] | 'all', folders: readonly ItemId[] = []): void {
    this.announceAfterCommit(ids, folders);
  }

  private announceAfterCommit(ids: readonly ItemId[] | 'all', folders: readonly ItemId[] = []): void {
    if (this.itemsChanged === undefined || (ids.length === 0 && folders.length === 0)) return;
    if (this.db.inTransaction) {
      // Inside an outer transaction (the uploader's): wait for it, so a reader never meets the old row again. One
      // flush serves every announcement the transaction made.
      const queued =
        this.pendingAnnounce === 'all' || this.pendingAnnounce.length > 0 || this.pendingFolders.length > 0;
      if (ids === 'all') this.pendingAnnounce = 'all';
      else if (this.pendingAnnounce !== 'all') this.pendingAnnounce.push(...ids);
      this.pendingFolders.push(...folders);
      if (!queued) queueMicrotask(() => this.flushAnnounce());
      return;
    }
    this.itemsChanged(ids, folders);
  }

  private flushAnnounce(): void {
    if (this.db.inTransaction) return void queueMicrotask(() => this.flushAnnounce());
    const ids = this.pendingAnnounce;
    const folders = this.pendingFolders;
    this.pendingAnnounce = [];
    this.pendingFolders = [];
    if (ids === 'all' || ids.length > 0 || folders.length > 0) this.itemsChanged?.(ids, folders);
  }

  /**
   * Starts a full (FullData) pass: items written until endFullPass are marked as seen by it. Over a tree an earlier
   * pass completed (a token is saved; a resync or a FullData answer to it), every folder stays listed while the pass
   * refreshes it: without the token they would count as unlisted, and every lookup, create or listing would wait
   * for an on-demand listing and fail while the server is down, as on a remount the stored tree is served instead.
   */
  beginFullPass(): void {
    if (this.q.state.get()?.token != null) this.q.allFoldersComplete.run();
    this.passGen = (this.q.maxMark.get()?.m ?? 0) + 1;
    this.passSince = this.generation;
  }

  /** Ends the pass atomically: deletes every item the pass did not see and saves the state (the new token). */
  endFullPass(
    state: Partial<SyncState>,
    items: readonly StoredItem[] = [],
    deletes: readonly ItemId[] = [],
    since?: number,
  ): BatchResult {
    const gen = this.passGen;
    if (gen === undefined) throw new InvalidInputError('endFullPass without beginFullPass');
    const result = this.db.transaction(() => {
      const r = this.applyItems(items, deletes, since);
      // Items created or changed here while the pass ran may be missing from its pages: not gone from the server.
      for (const [id, c] of this.localChanges) if (c.gen > this.passSince) this.q.mark.run(gen, id);
      const swept = this.q.sweep.run(gen).changes;
      r.deleted += swept;
      this.putState(state);
      return { r, swept };
    })();
    this.passGen = undefined;
    this.announceAfterCommit(result.swept > 0 ? 'all' : result.r.touched, result.r.folders);
    return result.r;
  }

  /** Forgets an unfinished pass (its marks are harmless: the next pass uses a higher generation). */
  abandonFullPass(): void {
    this.passGen = undefined;
  }

  close(): void {
    this.db.close();
  }

  private applyItems(
    items: readonly StoredItem[],
    deletes: readonly ItemId[],
    since: number | undefined,
  ): BatchResult {
    const result: BatchResult = { upserted: 0, deleted: 0, skipped: [], touched: [], folders: [] };
    for (const id of deletes)
      if (!this.changedSince(id, since) && !this.skipHeld(id)) {
        this.tellRemoving(id);
        const parent = this.q.get.get(id)?.parent_id as ItemId | undefined;
        const n = this.q.deleteTree.run(id).changes;
        result.deleted += n;
        if (n > 0) result.touched.push(id);
        if (n > 0 && parent != null) result.folders.push(parent);
      }
    // The local state wins while a change is pending (the SQL guard covers updates; this covers re-inserting a
    // locally deleted item) and over data fetched before a local change.
    const sent = this.journal.sentSlots(foldName);
    items = items.filter(
      (i) =>
        !this.changedSince(i.id, since) &&
        !this.journal.hasPendingChange(i.id) &&
        !this.skipHeld(i.id) &&
        !this.skipAtSentSlot(i, sent),
    );
    // Park every moved or renamed item first, so a batch that swaps two names (a→b, b→a) applies in any order.
    const parked = new Map<string, ItemRow>();
    for (const item of items) {
      const old = this.q.get.get(item.id);
      if (old && (old.parent_id !== item.parentId || old.name_folded !== foldName(item.name))) {
        this.q.park.run(PARK_PREFIX + item.id, item.id);
        parked.set(item.id, old);
      }
    }
    const mark = this.passGen ?? 0;
    for (const item of items) {
      const folded = foldName(item.name);
      const holder = this.q.child.get(item.parentId, folded);
      if (holder && holder.id !== item.id) {
        const pending = this.journal.hasPendingChange(holder.id as ItemId);
        if (this.passGen !== undefined && holder.pass_mark < this.passGen && !pending) {
          // The holder has not been seen by this full pass, so the server no longer has it under this name. Only
          // its row goes: its children are swept at the end unless it comes back later in the pass.
          this.q.deleteOne.run(holder.id);
        } else {
          this.logger.warn(
            { id: item.id, holder: holder.id, parentId: item.parentId, name: item.name },
            'name differs only by case from an existing sibling; keeping the first item, skipping this one',
          );
          result.skipped.push(item.id);
          this.unpark(item.id, parked.get(item.id));
          continue;
        }
      }
      const before = parked.get(item.id) ?? this.q.get.get(item.id);
      // A document's version the row already has (same ETag) keeps the mtime shown here: after our own upload that
      // is the local write's time, where the server has the time of the upload (an editor must not see it jump).
      const kept =
        before !== undefined && item.kind === 'document' && before.etag === item.etag
          ? { ...item, modifiedMs: before.modified_ms }
          : item;
      this.q.upsert.run(toRow(kept, folded, mark));
      parked.delete(item.id);
      result.upserted++;
      if (before === undefined || differs(before, kept, folded)) result.touched.push(item.id);
      if (before === undefined || before.parent_id !== item.parentId || before.name !== item.name)
        result.folders.push(item.parentId);
      if (before !== undefined && before.parent_id !== item.parentId)
        result.folders.push(before.parent_id as ItemId);
    }
    return result;
  }

  /** A deleted folder's documents are not told: the replaced-inode window is a document saved over (SEMANTICS). */
  private tellRemoving(id: ItemId): void {
    if (this.removingListener === undefined) return;
    const row = this.q.get.get(id);
    if (row !== undefined && row.kind === 'document' && !this.journal.hasPendingChange(id))
      this.removingListener(toItem(row));
  }

  /** Puts a parked item back under its old name, or drops it when that name was taken meanwhile. */
  private unpark(id: ItemId, old: ItemRow | undefined): void {
    if (!old) return;
    const holder = this.q.child.get(old.parent_id, old.name_folded);
    if (holder) {
      this.logger.warn({ id, holder: holder.id }, 'item lost its old name to another item; dropping it');
      this.q.deleteTree.run(id);
    } else {
      this.q.park.run(old.name_folded, id);
    }
  }

  private putState(patch: Partial<SyncState>): void {
    this.knownRoot = null; // read again after this (its transaction may still roll back)
    const old = this.getSyncState();
    const merged = { ...old, ...patch };
    if (merged.libraryKey === undefined || merged.listId === undefined || merged.rootId === undefined) {
      throw new InvalidInputError('the first sync state needs libraryKey, listId and rootId');
    }
    this.q.putState.run({
      library_key: merged.libraryKey,
      list_id: merged.listId,
      root_id: merged.rootId,
      token: merged.token ?? null,
      quota_used: merged.quota?.used ?? 0,
      quota_granted: merged.quota?.granted ?? 0,
      quota_state: merged.quota?.state ?? 'Normal',
      updated_ms: patch.updatedMs ?? this.clock.now(),
    });
  }
}

function toItem(r: ItemRow): StoredItem {
  const item: StoredItem = {
    id: r.id as ItemId,
    parentId: r.parent_id as ItemId,
    name: r.name,
    kind: r.kind,
    size: r.size,
    etag: r.etag as ETag,
    createdMs: r.created_ms,
    modifiedMs: r.modified_ms,
  };
  if (r.hash !== null) item.hash = r.hash;
  if (r.download_url !== null) item.downloadUrl = r.download_url;
  if (r.mime !== null) item.mimeType = r.mime;
  return item;
}

/** Whether what a kernel may have cached of the item (name, place, size, time, version) changed. */
function differs(old: ItemRow, item: StoredItem, folded: string): boolean {
  return (
    old.parent_id !== item.parentId ||
    old.name !== item.name ||
    old.name_folded !== folded ||
    old.etag !== item.etag ||
    old.size !== item.size ||
    old.modified_ms !== item.modifiedMs
  );
}

function toRow(item: StoredItem, folded: string, mark: number): Record<string, unknown> {
  return {
    id: item.id,
    parent_id: item.parentId,
    name: item.name,
    name_folded: folded,
    kind: item.kind,
    size: item.size,
    etag: item.etag,
    hash: item.hash ?? null,
    download_url: item.downloadUrl ?? null,
    mime: item.mimeType ?? null,
    created_ms: item.createdMs,
    modified_ms: item.modifiedMs,
    pass_mark: mark,
  };
}

function toState(r: StateRow): SyncState {
  return {
    libraryKey: r.library_key,
    listId: r.list_id,
    rootId: r.root_id as ItemId,
    token: r.token,
    quota: { state: r.quota_state, used: r.quota_used, granted: r.quota_granted },
    updatedMs: r.updated_ms,
  };
}
