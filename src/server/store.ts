// The library's state in SQLite (items, change log, meta) plus the blob folder: every read the handlers need and the
// few mutations (seed, rename/move, delete) that write a change-log entry in the same transaction.
import type Database from 'better-sqlite3';
import * as path from 'node:path';
import { foldName } from '../shared/names';
import { openDatabase } from './schema';
import { ItemNotFoundError, NameConflictError } from './server-errors';

export type StoredKind = 'folder' | 'document';

export interface StoredItem {
  ord: number;
  id: string;
  /** null only for the library root. */
  parentId: string | null;
  name: string;
  kind: StoredKind;
  size: number;
  version: number;
  hash: string | null;
  mime: string | null;
  createdMs: number;
  modifiedMs: number;
  blob: string | null;
  deleted: boolean;
  lastSeq: number;
  changedMs: number;
}

export interface LibraryMeta {
  listId: string;
  siteId: string;
  rootId: string;
  epoch: string;
}

/** A row to insert: ids already assigned, parents listed before their children. */
export interface NewItem {
  id: string;
  parentId: string;
  name: string;
  kind: StoredKind;
  size: number;
  hash: string | null;
  mime: string | null;
  createdMs: number;
  modifiedMs: number;
  blob: string | null;
}

interface Row {
  ord: number;
  resource_id: string;
  parent_id: string | null;
  name: string;
  kind: StoredKind;
  size: number;
  version: number;
  hash: string | null;
  mime: string | null;
  created_ms: number;
  modified_ms: number;
  blob: string | null;
  deleted: number;
  last_seq: number;
  changed_ms: number;
}

function fromRow(r: Row): StoredItem {
  return {
    ord: r.ord,
    id: r.resource_id,
    parentId: r.parent_id,
    name: r.name,
    kind: r.kind,
    size: r.size,
    version: r.version,
    hash: r.hash,
    mime: r.mime,
    createdMs: r.created_ms,
    modifiedMs: r.modified_ms,
    blob: r.blob,
    deleted: r.deleted !== 0,
    lastSeq: r.last_seq,
    changedMs: r.changed_ms,
  };
}

export class Store {
  readonly blobDir: string;
  private readonly db: Database.Database;
  private readonly q;

  constructor(dataDir: string) {
    this.blobDir = path.join(dataDir, 'blobs');
    this.db = openDatabase(path.join(dataDir, 'spfs-server.sqlite'));
    const db = this.db;
    this.q = {
      meta: db.prepare<[], { key: string; value: string }>('SELECT key, value FROM meta'),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      get: db.prepare<[string], Row>('SELECT * FROM items WHERE resource_id = ?'),
      insert: db.prepare(
        `INSERT INTO items (resource_id, parent_id, name, name_key, kind, size, version, hash, mime, created_ms,
           modified_ms, blob, deleted, last_seq, changed_ms)
         VALUES (@id, @parentId, @name, @nameKey, @kind, @size, 1, @hash, @mime, @createdMs, @modifiedMs, @blob, 0,
           @seq, @timeMs)`,
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
      rename: db.prepare(
        `UPDATE items SET name = ?, name_key = ?, parent_id = ?, version = version + 1, last_seq = ?, changed_ms = ?
         WHERE resource_id = ?`,
      ),
      tombstone: db.prepare(
        'UPDATE items SET deleted = 1, last_seq = ?, changed_ms = ? WHERE resource_id = ?',
      ),
    };
  }

  /** The library's identity, or undefined for a fresh data directory. */
  meta(): LibraryMeta | undefined {
    const m = new Map<string, string>(this.q.meta.all().map((r) => [r.key, r.value]));
    const listId = m.get('list_id');
    const siteId = m.get('site_id');
    const rootId = m.get('root_id');
    const epoch = m.get('epoch');
    if (!listId || !siteId || !rootId || !epoch) return undefined;
    return { listId, siteId, rootId, epoch };
  }

  /** Creates the library in one transaction: meta, root folder, seeded items, one change-log entry each. */
  initLibrary(meta: LibraryMeta, nowMs: number, items: readonly NewItem[]): void {
    this.db.transaction(() => {
      this.q.setMeta.run('list_id', meta.listId);
      this.q.setMeta.run('site_id', meta.siteId);
      this.q.setMeta.run('root_id', meta.rootId);
      this.q.setMeta.run('epoch', meta.epoch);
      const root: NewItem = {
        id: meta.rootId,
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
      this.insertLogged({ ...root }, nowMs, null);
      for (const it of items) this.insertLogged(it, nowMs, it.parentId);
    })();
  }

  private insertLogged(it: NewItem, nowMs: number, parentId: string | null): void {
    const seq = Number(this.q.log.run(it.id, 'create', nowMs).lastInsertRowid);
    this.q.insert.run({ ...it, parentId, nameKey: foldName(it.name), seq, timeMs: nowMs });
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

  spaceUsed(): number {
    return this.q.spaceUsed.get()?.n ?? 0;
  }

  subtreeSize(id: string): number {
    return this.q.subtreeSize.get(id)?.n ?? 0;
  }

  /** Rename and/or move one item (metadata write: version + 1, one change-log entry). */
  renameOrMove(id: string, change: { name?: string; parentId?: string }, nowMs: number): StoredItem {
    return this.db.transaction(() => {
      const it = this.live(id);
      if (it.parentId === null) throw new ItemNotFoundError(id);
      const name = change.name ?? it.name;
      const parentId = change.parentId ?? it.parentId;
      const parent = this.live(parentId);
      if (parent.kind !== 'folder') throw new ItemNotFoundError(parentId);
      if ((this.q.nameTaken.get(parentId, foldName(name), id)?.n ?? 0) > 0) throw new NameConflictError(name);
      const kind = parentId !== it.parentId ? 'move' : 'rename';
      const seq = Number(this.q.log.run(id, kind, nowMs).lastInsertRowid);
      this.q.rename.run(name, foldName(name), parentId, seq, nowMs, id);
      return this.live(id);
    })();
  }

  /** Deletes an item; a folder takes its whole subtree with it (children first in the change log). */
  remove(id: string, nowMs: number): void {
    this.db.transaction(() => {
      const it = this.live(id);
      if (it.parentId === null) throw new ItemNotFoundError(id);
      const visit = (cur: StoredItem): void => {
        for (const c of this.q.liveChildren.all(cur.id).map(fromRow)) visit(c);
        const seq = Number(this.q.log.run(cur.id, 'delete', nowMs).lastInsertRowid);
        this.q.tombstone.run(seq, nowMs, cur.id);
      };
      visit(it);
    })();
  }

  blobPath(it: StoredItem): string | undefined {
    return it.blob ? path.join(this.blobDir, it.blob) : undefined;
  }

  close(): void {
    this.db.close();
  }
}
