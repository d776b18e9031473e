// The library's state in SQLite (items, change log, upload sessions, meta) plus the blob folder: every read the
// handlers need and the primitive mutations, each writing its change-log entry in the same transaction.
// Rules (names, ETags, quota, locks) live in write-ops.ts; this file only keeps the rows consistent.
import type Database from 'better-sqlite3';
import * as path from 'node:path';
import { foldName } from '../shared/names';
import { sweepOrphans } from './orphan-sweep';
import { openDatabase } from './schema';
import { ItemNotFoundError, NameConflictError } from './server-errors';
import {
  type ItemPatch,
  type LibraryMeta,
  type NewItem,
  type Row,
  type StoredItem,
  type Writer,
  type ChangeKind,
  fromRow,
} from './store-types';
import { UploadSessionTable } from './upload-session-table';

export type {
  ChangeKind,
  ItemPatch,
  LibraryMeta,
  NewItem,
  StoredItem,
  StoredKind,
  Writer,
} from './store-types';

const NO_WRITER: Writer = { user: null, identity: null };

export class Store {
  readonly blobDir: string;
  readonly uploadDir: string;
  readonly tmpDir: string;
  /** BITS upload sessions (their table lives in the same database). */
  readonly sessions: UploadSessionTable;
  private readonly db: Database.Database;
  private readonly q;
  /** SpaceUsed, kept up to date by every mutation once computed (a SUM over every row costs ~0.3 s at 100k items). */
  private usedBytes: number | undefined;

  constructor(dataDir: string) {
    this.blobDir = path.join(dataDir, 'blobs');
    this.uploadDir = path.join(dataDir, 'uploads');
    this.tmpDir = path.join(dataDir, 'tmp');
    this.db = openDatabase(path.join(dataDir, 'spfs-server.sqlite'));
    const db = this.db;
    this.sessions = new UploadSessionTable(db);
    this.q = {
      meta: db.prepare<[], { key: string; value: string }>('SELECT key, value FROM meta'),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      get: db.prepare<[string], Row>('SELECT * FROM items WHERE resource_id = ?'),
      insert: db.prepare(
        `INSERT INTO items (resource_id, parent_id, name, name_key, kind, size, version, hash, mime, created_ms,
           modified_ms, blob, deleted, last_seq, changed_ms, modifier, modified_by, created_by)
         VALUES (@id, @parentId, @name, @nameKey, @kind, @size, 1, @hash, @mime, @createdMs, @modifiedMs, @blob, 0,
           @seq, @timeMs, @identity, @user, @user)`,
      ),
      update: db.prepare(
        `UPDATE items SET name = @name, name_key = @nameKey, parent_id = @parentId, size = @size, hash = @hash,
           mime = @mime, blob = @blob, created_ms = @createdMs, modified_ms = @modifiedMs, version = version + 1,
           last_seq = @seq, changed_ms = @timeMs, modifier = @identity, modified_by = @user
         WHERE resource_id = @id`,
      ),
      log: db.prepare('INSERT INTO change_log (item_id, change, time_ms) VALUES (?, ?, ?)'),
      children: db.prepare<[string, number, number, number], Row>(
        `SELECT * FROM items WHERE parent_id = ? AND deleted = 0 AND (? = 0 OR kind = 'folder')
         ORDER BY name_key, resource_id LIMIT ? OFFSET ?`,
      ),
      childCount: db.prepare<[string, number], { n: number }>(
        `SELECT COUNT(*) AS n FROM items WHERE parent_id = ? AND deleted = 0 AND (? = 0 OR kind = 'folder')`,
      ),
      liveChildren: db.prepare<[string], Row>('SELECT * FROM items WHERE parent_id = ? AND deleted = 0'),
      fullPage: db.prepare<[number, number], Row>(
        'SELECT * FROM items WHERE ord > ? AND deleted = 0 AND parent_id IS NOT NULL ORDER BY ord LIMIT ?',
      ),
      changesAfter: db.prepare<[number, number], Row>(
        'SELECT * FROM items WHERE last_seq > ? AND parent_id IS NOT NULL ORDER BY last_seq LIMIT ?',
      ),
      currentSeq: db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM change_log'),
      changeTime: db.prepare<[number], { time_ms: number }>('SELECT time_ms FROM change_log WHERE seq = ?'),
      spaceUsed: db.prepare<[], { n: number | null }>(
        "SELECT SUM(size) AS n FROM items WHERE deleted = 0 AND kind = 'document'",
      ),
      subtreeSize: db.prepare<[string], { n: number | null }>(
        `WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL
           SELECT i.resource_id FROM items i JOIN sub ON i.parent_id = sub.id WHERE i.deleted = 0)
         SELECT SUM(i.size) AS n FROM items i JOIN sub ON i.resource_id = sub.id
         WHERE i.kind = 'document' AND i.deleted = 0`,
      ),
      nameTaken: db.prepare<[string, string, string], { n: number }>(
        'SELECT COUNT(*) AS n FROM items WHERE parent_id = ? AND name_key = ? AND deleted = 0 AND resource_id <> ?',
      ),
      tombstone: db.prepare(
        `UPDATE items SET deleted = 1, version = version + 1, last_seq = ?, changed_ms = ?, modifier = ?,
           modified_by = ? WHERE resource_id = ?`,
      ),
      lock: db.prepare('UPDATE items SET locked_by = ? WHERE resource_id = ?'),
      blobs: db.prepare<[], { blob: string }>(
        'SELECT blob FROM items WHERE blob IS NOT NULL AND deleted = 0',
      ),
      pruneLog: db.prepare<[number, number]>('DELETE FROM change_log WHERE time_ms < ? AND seq < ?'),
      maxPrunable: db.prepare<[number, number], { seq: number | null }>(
        'SELECT MAX(seq) AS seq FROM change_log WHERE time_ms < ? AND seq < ?',
      ),
      pruneTombstones: db.prepare<[number]>('DELETE FROM items WHERE deleted = 1 AND last_seq <= ?'),
      wipe: db.prepare('DELETE FROM items'),
      wipeLog: db.prepare('DELETE FROM change_log'),
    };
    // Recovery after a crash: nothing half-written is ever visible, and no orphan stays on disk.
    sweepOrphans(this);
  }

  /** Runs `fn` in one SQLite transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } catch (err) {
      this.usedBytes = undefined; // rolled back: the running total may include undone changes
      throw err;
    }
  }

  private addUsed(delta: number): void {
    if (this.usedBytes !== undefined) this.usedBytes += delta;
  }

  /** The library's identity, or undefined for a fresh (or half-created) data directory. */
  meta(): LibraryMeta | undefined {
    const m = this.metaMap();
    const listId = m.get('list_id');
    const siteId = m.get('site_id');
    const rootId = m.get('root_id');
    const epoch = m.get('epoch');
    if (!listId || !siteId || !rootId || !epoch) return undefined;
    return { listId, siteId, rootId, epoch };
  }

  private metaMap(): Map<string, string> {
    return new Map<string, string>(this.q.meta.all().map((r) => [r.key, r.value]));
  }

  private metaNumber(key: string): number {
    const v = Number(this.metaMap().get(key) ?? '0');
    return Number.isSafeInteger(v) ? v : 0;
  }

  /** Restore generation: bumped when the library is restored; tokens of another generation need a resync. */
  generation(): number {
    return this.metaNumber('restore_generation');
  }

  bumpGeneration(): number {
    const next = this.generation() + 1;
    this.q.setMeta.run('restore_generation', String(next));
    return next;
  }

  /** Highest change-log sequence pruned by retention (0 = none): older tokens need a resync. */
  prunedSeq(): number {
    return this.metaNumber('pruned_seq');
  }

  /** Creates the library in one transaction: meta, root folder, the given items, one change-log entry each. */
  initLibrary(meta: LibraryMeta, nowMs: number, items: readonly NewItem[]): void {
    this.transaction(() => {
      this.insertRoot(meta.rootId, nowMs);
      this.insertRows(items, nowMs);
      this.writeMeta(meta);
    });
  }

  /** First step of a library built in several transactions (generator); invisible until writeMeta. */
  insertRoot(rootId: string, nowMs: number): void {
    const root: NewItem = {
      id: rootId,
      parentId: '',
      name: 'RootFolder',
      kind: 'folder',
      size: 0,
      hash: null,
      mime: null,
      createdMs: nowMs,
      modifiedMs: nowMs,
      blob: null,
    };
    this.insertLogged(root, nowMs, null, NO_WRITER);
  }

  insertRows(items: readonly NewItem[], nowMs: number): void {
    this.transaction(() => {
      for (const it of items) this.insertLogged(it, nowMs, it.parentId, NO_WRITER);
    });
  }

  writeMeta(meta: LibraryMeta): void {
    this.transaction(() => {
      this.q.setMeta.run('list_id', meta.listId);
      this.q.setMeta.run('site_id', meta.siteId);
      this.q.setMeta.run('root_id', meta.rootId);
      this.q.setMeta.run('epoch', meta.epoch);
    });
  }

  /** Drops every item and change of a library whose creation never finished (no meta). */
  wipeIncomplete(): void {
    this.usedBytes = undefined;
    this.transaction(() => {
      this.q.wipe.run();
      this.q.wipeLog.run();
    });
  }

  private insertLogged(it: NewItem, nowMs: number, parentId: string | null, by: Writer): number {
    const seq = Number(this.q.log.run(it.id, 'create', nowMs).lastInsertRowid);
    this.q.insert.run({ ...it, parentId, nameKey: foldName(it.name), seq, timeMs: nowMs, ...by });
    if (it.kind === 'document') this.addUsed(it.size);
    return seq;
  }

  /** Inserts one item with a `create` change-log entry; the caller has checked names and parents. */
  insertItem(it: NewItem, by: Writer, nowMs: number): StoredItem {
    return this.transaction(() => {
      this.insertLogged(it, nowMs, it.parentId, by);
      return this.live(it.id);
    });
  }

  /** Applies a patch: version + 1, one change-log entry of kind `change`. */
  updateItem(id: string, patch: ItemPatch, change: ChangeKind, by: Writer, nowMs: number): StoredItem {
    return this.transaction(() => {
      const it = this.live(id);
      const name = patch.name ?? it.name;
      const seq = Number(this.q.log.run(id, change, nowMs).lastInsertRowid);
      this.q.update.run({
        id,
        name,
        nameKey: foldName(name),
        parentId: patch.parentId ?? it.parentId,
        size: patch.size ?? it.size,
        hash: patch.hash !== undefined ? patch.hash : it.hash,
        mime: patch.mime !== undefined ? patch.mime : it.mime,
        blob: patch.blob !== undefined ? patch.blob : it.blob,
        createdMs: patch.createdMs ?? it.createdMs,
        modifiedMs: patch.modifiedMs ?? it.modifiedMs,
        seq,
        timeMs: nowMs,
        ...by,
      });
      if (it.kind === 'document') this.addUsed((patch.size ?? it.size) - it.size);
      return this.live(id);
    });
  }

  get(id: string): StoredItem | undefined {
    const r = this.q.get.get(id);
    return r ? fromRow(r) : undefined;
  }

  /** A live item or ItemNotFoundError. */
  live(id: string): StoredItem {
    const it = this.get(id);
    if (!it || it.deleted) throw new ItemNotFoundError(id);
    return it;
  }

  /** One page of a folder's live children in the stable order of digest G9 (folded name, then ResourceID). */
  children(
    parentId: string,
    foldersOnly: boolean,
    offset: number,
    count: number,
  ): { items: StoredItem[]; total: number } {
    const f = foldersOnly ? 1 : 0;
    const items = this.q.children.all(parentId, f, count, offset).map(fromRow);
    const total = this.q.childCount.get(parentId, f)?.n ?? 0;
    return { items, total };
  }

  liveChildren(parentId: string): StoredItem[] {
    return this.q.liveChildren.all(parentId).map(fromRow);
  }

  /** Live non-root items after insertion position `afterOrd`, in insertion order. */
  fullPage(afterOrd: number, limit: number): StoredItem[] {
    return this.q.fullPage.all(afterOrd, limit).map(fromRow);
  }

  /** Items (tombstones included) whose newest change is after `seq`, oldest change first. */
  changesAfter(seq: number, limit: number): StoredItem[] {
    return this.q.changesAfter.all(seq, limit).map(fromRow);
  }

  currentSeq(): number {
    return this.q.currentSeq.get()?.seq ?? 0;
  }

  changeTime(seq: number): number | undefined {
    return this.q.changeTime.get(seq)?.time_ms;
  }

  /** Sum of live document sizes. */
  spaceUsed(): number {
    if (this.usedBytes !== undefined) return this.usedBytes;
    const n = this.q.spaceUsed.get()?.n ?? 0;
    // Inside a transaction the sum may include changes that are later rolled back: don't remember it then.
    if (!this.db.inTransaction) this.usedBytes = n;
    return n;
  }

  subtreeSize(id: string): number {
    return this.q.subtreeSize.get(id)?.n ?? 0;
  }

  /** True when a live sibling other than `exceptId` has this name (case-insensitively). */
  nameTaken(parentId: string, name: string, exceptId = ''): boolean {
    return (this.q.nameTaken.get(parentId, foldName(name), exceptId)?.n ?? 0) > 0;
  }

  /** Rename and/or move one item (metadata write: version + 1, one change-log entry). */
  renameOrMove(
    id: string,
    change: { name?: string; parentId?: string },
    nowMs: number,
    by: Writer = NO_WRITER,
  ): StoredItem {
    return this.transaction(() => {
      const it = this.live(id);
      if (it.parentId === null) throw new ItemNotFoundError(id);
      const name = change.name ?? it.name;
      const parentId = change.parentId ?? it.parentId;
      const parent = this.live(parentId);
      if (parent.kind !== 'folder') throw new ItemNotFoundError(parentId);
      if (this.nameTaken(parentId, name, id)) throw new NameConflictError(name);
      const kind = parentId !== it.parentId ? 'move' : 'rename';
      return this.updateItem(id, { name, parentId }, kind, by, nowMs);
    });
  }

  /** Deletes an item; a folder takes its whole subtree with it (children first). Returns what was deleted. */
  remove(id: string, nowMs: number, by: Writer = NO_WRITER): StoredItem[] {
    return this.transaction(() => {
      const it = this.live(id);
      if (it.parentId === null) throw new ItemNotFoundError(id);
      const gone: StoredItem[] = [];
      const visit = (cur: StoredItem): void => {
        for (const c of this.liveChildren(cur.id)) visit(c);
        const seq = Number(this.q.log.run(cur.id, 'delete', nowMs).lastInsertRowid);
        this.q.tombstone.run(seq, nowMs, by.identity, by.user, cur.id);
        if (cur.kind === 'document') this.addUsed(-cur.size);
        gone.push(cur);
      };
      visit(it);
      return gone;
    });
  }

  /** Locks (owner set) or unlocks (null) an item; locked items refuse every write. */
  setLock(id: string, owner: string | null): void {
    this.live(id);
    this.q.lock.run(owner, id);
  }

  /** Blob file names referenced by live items (the start-up sweep deletes every other file). */
  referencedBlobs(): Set<string> {
    return new Set(this.q.blobs.all().map((r) => r.blob));
  }

  /**
   * Change-log retention: drops log entries and tombstones older than `cutoffMs` (the newest entry always stays, so
   * the current token keeps its time) and records the highest dropped seq. Returns it (0 = nothing pruned).
   */
  prune(cutoffMs: number): number {
    return this.transaction(() => {
      const current = this.currentSeq();
      const upTo = this.q.maxPrunable.get(cutoffMs, current)?.seq ?? null;
      if (upTo === null) return 0;
      this.q.pruneLog.run(cutoffMs, current);
      this.q.pruneTombstones.run(upTo);
      this.q.setMeta.run('pruned_seq', String(Math.max(upTo, this.prunedSeq())));
      return upTo;
    });
  }

  blobPath(it: StoredItem): string | undefined {
    return it.blob ? path.join(this.blobDir, it.blob) : undefined;
  }

  close(): void {
    this.db.close();
  }
}
