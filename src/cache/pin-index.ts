// What must stay on this device, as SQLite sees it: the `items.pinned` flags of whole subtrees (inheritance for
// new and moved items is done by the schema's triggers) and which pinned documents still lack their verified
// content. The pin manager (src/sync/pin-manager.ts) is the only writer.
import type { Statement } from 'better-sqlite3';
import type { ETag, ItemId } from '../shared/ids';
import type { Db } from './schema';

/** One document under a path, with what the content cache holds of its current version. */
export interface DocumentContent {
  id: ItemId;
  etag: ETag;
  size: number;
  pinned: boolean;
  /** The current version is complete and verified in the content cache. */
  verified: boolean;
  /** Bytes of the current version recorded in the cache (durable ranges). */
  presentBytes: number;
  /** The item has a local change waiting for upload (content, a move, or a new item). */
  pendingUpload: boolean;
  /** Its bytes are a local copy not uploaded yet (new content or a new item): nothing to download. */
  localContent: boolean;
}

interface DocumentRow {
  id: string;
  etag: string;
  size: number;
  pinned: number;
  verified: number;
  present: number;
  pending: number;
  local: number;
}

const SUBTREE = `WITH RECURSIVE sub(id) AS (
  SELECT ? UNION ALL SELECT i.id FROM items i JOIN sub ON i.parent_id = sub.id)`;

export class PinIndex {
  private readonly q: {
    setTree: Statement<[string, number, number]>;
    documents: Statement<[string], DocumentRow>;
    waiting: Statement<[], { id: string }>;
    pinnedCount: Statement<[], { n: number }>;
    isPinned: Statement<[string], { pinned: number }>;
  };

  constructor(db: Db) {
    this.q = {
      setTree: db.prepare(
        `${SUBTREE} UPDATE items SET pinned = ? WHERE pinned <> ? AND id IN (SELECT id FROM sub)`,
      ),
      documents: db.prepare(`${SUBTREE}
        SELECT i.id, i.etag, i.size, i.pinned, COALESCE(c.verified, 0) AS verified,
          (SELECT COALESCE(SUM(r.end - r.start), 0) FROM cache_ranges r WHERE r.id = i.id AND r.etag = i.etag)
            AS present,
          EXISTS (SELECT 1 FROM upload_journal j WHERE j.item_id = i.id) AS pending,
          EXISTS (SELECT 1 FROM upload_journal j WHERE j.item_id = i.id AND (j.content = 1 OR j.base_etag IS NULL))
            AS local
        FROM sub JOIN items i ON i.id = sub.id
        LEFT JOIN cache_entries c ON c.id = i.id AND c.etag = i.etag
        WHERE i.kind = 'document'`),
      // Uses the partial index items_pinned. Local content is left out: its bytes are the local copy, which the
      // upload hands to the cache as verified content. A pending move still has the server's bytes to fetch.
      waiting: db.prepare(`
        SELECT i.id FROM items i LEFT JOIN cache_entries c ON c.id = i.id AND c.etag = i.etag
        WHERE i.pinned = 1 AND i.kind = 'document' AND i.size > 0 AND COALESCE(c.verified, 0) = 0
          AND i.id NOT IN (SELECT item_id FROM upload_journal WHERE content = 1 OR base_etag IS NULL)`),
      pinnedCount: db.prepare("SELECT COUNT(*) AS n FROM items WHERE pinned = 1 AND kind = 'document'"),
      isPinned: db.prepare('SELECT pinned FROM items WHERE id = ?'),
    };
  }

  /** Sets the flag of the item and everything under it; returns how many rows changed. */
  setTree(id: ItemId, pinned: boolean): number {
    const v = pinned ? 1 : 0;
    return this.q.setTree.run(id, v, v).changes;
  }

  /** Every document in the subtree of `id` (itself, when it is one). */
  documentsUnder(id: ItemId): DocumentContent[] {
    return this.q.documents.all(id).map((r) => ({
      id: r.id as ItemId,
      etag: r.etag as ETag,
      size: r.size,
      pinned: r.pinned === 1,
      verified: r.verified === 1,
      presentBytes: r.present,
      pendingUpload: r.pending === 1,
      localContent: r.local === 1,
    }));
  }

  /** Pinned documents whose current version is not complete and verified in the cache yet. */
  waiting(): ItemId[] {
    return this.q.waiting.all().map((r) => r.id as ItemId);
  }

  isPinned(id: ItemId): boolean {
    return this.q.isPinned.get(id)?.pinned === 1;
  }

  /** Pinned documents (what `spfs status` counts as pinned files). */
  count(): number {
    return this.q.pinnedCount.get()?.n ?? 0;
  }
}
