// The upload journal (table upload_journal): one row per item with local changes the server has not seen yet —
// new content, a new name or place, a delete — and the server version (ETag) the change is based on.
import type { Statement } from 'better-sqlite3';
import type { ETag, ItemId } from '../shared/ids';
import type { Db } from './schema';
import type { StoredItem } from './types';

export interface JournalEntry {
  itemId: ItemId;
  kind: 'folder' | 'document';
  /** ETag of the server version the change is based on; undefined for an item the server has never seen. */
  baseEtag: ETag | undefined;
  /** Where the server has the item (undefined for a new item). */
  remoteParent: ItemId | undefined;
  remoteName: string | undefined;
  /** The dirty content file must be uploaded. */
  content: boolean;
  /** Delete on the server (the items row is already gone). */
  deleted: boolean;
  size: number;
  /** Bumped at every local change: an upload that finds a different seq afterwards leaves the row in place. */
  seq: number;
  changedMs: number;
  attempts: number;
  nextTryMs: number;
  failure: string | undefined;
  permanent: boolean;
  /** A create of this new item was sent there; the reply may have been lost (see markSent). */
  sentTo: { parentId: ItemId; name: string } | undefined;
}

interface Row {
  item_id: string;
  kind: 'folder' | 'document';
  base_etag: string | null;
  remote_parent: string | null;
  remote_name: string | null;
  content: number;
  deleted: number;
  size: number;
  seq: number;
  changed_ms: number;
  attempts: number;
  next_try_ms: number;
  failure: string | null;
  permanent: number;
  sent_parent: string | null;
  sent_name: string | null;
}

/** Prefix of the ids of items created locally, before the server assigns a ResourceID. */
export const LOCAL_ID_PREFIX = 'local-';

export function isLocalId(id: string): boolean {
  return id.startsWith(LOCAL_ID_PREFIX);
}

export interface JournalTotals {
  files: number;
  bytes: number;
  failures: number;
  /** Refused for good (kept locally until the item changes again). */
  permanent: number;
}

/**
 * The journal. Issue 7's change sync asks `hasPendingChange(id)` / `pendingIds()` before it overwrites or deletes an
 * item: an item with a row here has local changes that must not be lost (MetadataStore's upsert, subtree delete and
 * full-pass sweep already skip such rows in SQL).
 */
export class UploadJournal {
  private readonly q: {
    get: Statement<[string], Row>;
    all: Statement<[], Row>;
    listed: Statement<[number], Row>;
    ids: Statement<[], { item_id: string }>;
    put: Statement<unknown[]>;
    remove: Statement<[string]>;
    removeIfSeq: Statement<[string, number]>;
    fail: Statement<[string | null, number, number, number, string]>;
    totals: Statement<
      [],
      { files: number; bytes: number | null; failures: number | null; permanent: number | null }
    >;
    rekey: Statement<[string, string]>;
    markSent: Statement<[string, string, string]>;
    due: Statement<[number, number], Row>;
    nextDue: Statement<[number, number, number], { at: number | null }>;
    sentSlots: Statement<[], { sent_parent: string; sent_name: string }>;
  };

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
    /** Told the id of every row written or removed (the store's stale-page rule). */
    private readonly touched: (id: ItemId) => void = () => undefined,
  ) {
    this.q = {
      get: db.prepare('SELECT * FROM upload_journal WHERE item_id = ?'),
      all: db.prepare('SELECT * FROM upload_journal ORDER BY changed_ms, item_id'),
      listed: db.prepare(
        'SELECT * FROM upload_journal ORDER BY failure IS NULL, changed_ms, item_id LIMIT ?',
      ),
      ids: db.prepare('SELECT item_id FROM upload_journal'),
      put: db.prepare(`
        INSERT OR REPLACE INTO upload_journal (item_id, kind, base_etag, remote_parent, remote_name, content, deleted,
                                               size, seq, changed_ms, attempts, next_try_ms, failure, permanent,
                                               sent_parent, sent_name)
        VALUES (@item_id, @kind, @base_etag, @remote_parent, @remote_name, @content, @deleted, @size, @seq,
                @changed_ms, @attempts, @next_try_ms, @failure, @permanent, @sent_parent, @sent_name)`),
      remove: db.prepare('DELETE FROM upload_journal WHERE item_id = ?'),
      removeIfSeq: db.prepare('DELETE FROM upload_journal WHERE item_id = ? AND seq = ?'),
      fail: db.prepare(
        'UPDATE upload_journal SET failure = ?, permanent = ?, attempts = attempts + 1, next_try_ms = ? WHERE seq = ? AND item_id = ?',
      ),
      totals: db.prepare(
        `SELECT COUNT(*) AS files, SUM(size * content) AS bytes, SUM(failure IS NOT NULL) AS failures,
                SUM(permanent) AS permanent FROM upload_journal`,
      ),
      rekey: db.prepare('UPDATE upload_journal SET item_id = ? WHERE item_id = ?'),
      due: db.prepare(
        'SELECT * FROM upload_journal WHERE permanent = 0 AND MAX(changed_ms + ?, next_try_ms) <= ? ORDER BY changed_ms, item_id',
      ),
      nextDue: db.prepare(
        'SELECT MIN(MAX(changed_ms + ?, next_try_ms)) AS at FROM upload_journal WHERE permanent = 0 AND MAX(changed_ms + ?, next_try_ms) > ?',
      ),
      markSent: db.prepare('UPDATE upload_journal SET sent_parent = ?, sent_name = ? WHERE item_id = ?'),
      sentSlots: db.prepare(
        'SELECT sent_parent, sent_name FROM upload_journal WHERE sent_parent IS NOT NULL AND sent_name IS NOT NULL',
      ),
    };
  }

  /** Whether the item has local changes not yet on the server (change sync must not overwrite or delete it). */
  hasPendingChange(id: ItemId): boolean {
    return this.q.get.get(id) !== undefined;
  }

  /** Every item id with pending local changes. */
  pendingIds(): Set<ItemId> {
    return new Set(this.q.ids.all().map((r) => r.item_id as ItemId));
  }

  get(id: ItemId): JournalEntry | undefined {
    const r = this.q.get.get(id);
    return r && toEntry(r);
  }

  /** Rows to send now: settled `settleMs` after their last change and past their retry time, oldest first. */
  due(nowMs: number, settleMs: number): JournalEntry[] {
    return this.q.due.all(settleMs, nowMs).map(toEntry);
  }

  /** When the next row that is not due at `nowMs` becomes due (undefined: none). */
  nextDueMs(nowMs: number, settleMs: number): number | undefined {
    return this.q.nextDue.get(settleMs, settleMs, nowMs)?.at ?? undefined;
  }

  all(): JournalEntry[] {
    return this.q.all.all().map(toEntry);
  }

  /** At most `limit` entries for a listing (`spfs status`): failing ones first, then oldest first. */
  listed(limit: number): JournalEntry[] {
    return this.q.listed.all(limit).map(toEntry);
  }

  totals(): JournalTotals {
    const t = this.q.totals.get();
    return {
      files: t?.files ?? 0,
      bytes: t?.bytes ?? 0,
      failures: t?.failures ?? 0,
      permanent: t?.permanent ?? 0,
    };
  }

  /** An item created locally (a document's content comes with it). */
  recordCreate(item: StoredItem): JournalEntry {
    return this.write(item, { content: item.kind === 'document', size: item.size });
  }

  /** New content for a document (in its local copy already), made from server version `base` (default: the row's). */
  recordContent(item: StoredItem, base?: ETag): JournalEntry {
    return this.write(item, { content: true, size: item.size, ...(base !== undefined ? { base } : {}) });
  }

  /** A rename or move: `from` is where the item was before (kept when the row already says where the server has it). */
  recordMove(item: StoredItem, from: { parentId: ItemId; name: string }): JournalEntry {
    return this.write(item, { from });
  }

  /**
   * A delete. A local item the server never saw just leaves the journal, unless its create was sent: then the row
   * stays as a delete of whatever of ours the server made there.
   */
  recordDelete(item: StoredItem): void {
    const old = this.get(item.id);
    const unseen = old?.baseEtag === undefined && (old !== undefined || isLocalId(item.id));
    if (unseen && old?.sentTo === undefined) {
      this.forget(item.id);
      return;
    }
    this.write(item, { deleted: true, content: false, size: 0 });
  }

  /** The upload of `seq` succeeded: the row goes, unless the item changed again meanwhile. */
  complete(id: ItemId, seq: number): boolean {
    this.touched(id);
    return this.q.removeIfSeq.run(id, seq).changes > 0;
  }

  /** Drops the row whatever its seq (a conflict resolved by keeping both, a delete the server already did). */
  forget(id: ItemId): void {
    this.touched(id);
    this.q.remove.run(id);
  }

  /** Replaces a row as the uploader computed it (e.g. the new base after a partial success). */
  put(e: JournalEntry): void {
    this.touched(e.itemId);
    this.q.put.run(toRow(e));
  }

  /** Records a failed attempt; a permanent one is not retried until the item changes again. */
  fail(id: ItemId, seq: number, reason: string, permanent: boolean, nextTryMs: number): void {
    this.q.fail.run(reason, permanent ? 1 : 0, nextTryMs, seq, id);
  }

  /**
   * A create of the new item is about to go to `parentId`/`name`; committed before the request, so a kill that loses
   * the server's reply leaves the journal saying where to look for what the server made.
   */
  markSent(id: ItemId, parentId: ItemId, name: string): void {
    this.q.markSent.run(parentId, name, id);
  }

  /** Every (folder, name) a create was sent to and not yet confirmed, as `folderId/folded name` keys. */
  sentSlots(fold: (name: string) => string): Set<string> {
    return new Set(this.q.sentSlots.all().map((r) => `${r.sent_parent}/${fold(r.sent_name)}`));
  }

  /** Moves a row to the id the server assigned (run inside the transaction that re-keys the item). */
  rekey(oldId: ItemId, newId: ItemId): void {
    this.q.rekey.run(newId, oldId);
  }

  private write(
    item: StoredItem,
    change: {
      content?: boolean;
      deleted?: boolean;
      size?: number;
      from?: { parentId: ItemId; name: string };
      base?: ETag;
    },
  ): JournalEntry {
    return this.db.transaction(() => {
      const old = this.get(item.id);
      const known = !isLocalId(item.id);
      const e: JournalEntry = {
        itemId: item.id,
        kind: item.kind,
        baseEtag: old ? old.baseEtag : known ? (change.base ?? item.etag) : undefined,
        remoteParent: old ? old.remoteParent : known ? (change.from?.parentId ?? item.parentId) : undefined,
        remoteName: old ? old.remoteName : known ? (change.from?.name ?? item.name) : undefined,
        content: change.content ?? old?.content ?? false,
        deleted: change.deleted ?? false,
        size: change.size ?? old?.size ?? item.size,
        seq: (old?.seq ?? 0) + 1,
        changedMs: this.now(),
        attempts: 0,
        nextTryMs: 0,
        failure: undefined,
        permanent: false,
        sentTo: old?.sentTo,
      };
      this.q.put.run(toRow(e));
      this.touched(item.id);
      return e;
    })();
  }
}

function toEntry(r: Row): JournalEntry {
  return {
    itemId: r.item_id as ItemId,
    kind: r.kind,
    baseEtag: (r.base_etag ?? undefined) as ETag | undefined,
    remoteParent: (r.remote_parent ?? undefined) as ItemId | undefined,
    remoteName: r.remote_name ?? undefined,
    content: r.content === 1,
    deleted: r.deleted === 1,
    size: r.size,
    seq: r.seq,
    changedMs: r.changed_ms,
    attempts: r.attempts,
    nextTryMs: r.next_try_ms,
    failure: r.failure ?? undefined,
    permanent: r.permanent === 1,
    sentTo:
      r.sent_parent !== null && r.sent_name !== null
        ? { parentId: r.sent_parent as ItemId, name: r.sent_name }
        : undefined,
  };
}

function toRow(e: JournalEntry): Record<string, unknown> {
  return {
    item_id: e.itemId,
    kind: e.kind,
    base_etag: e.baseEtag ?? null,
    remote_parent: e.remoteParent ?? null,
    remote_name: e.remoteName ?? null,
    content: e.content ? 1 : 0,
    deleted: e.deleted ? 1 : 0,
    size: e.size,
    seq: e.seq,
    changed_ms: e.changedMs,
    attempts: e.attempts,
    next_try_ms: e.nextTryMs,
    failure: e.failure ?? null,
    permanent: e.permanent ? 1 : 0,
    sent_parent: e.sentTo?.parentId ?? null,
    sent_name: e.sentTo?.name ?? null,
  };
}
