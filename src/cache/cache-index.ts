// The content cache's index (tables cache_entries + cache_ranges): which byte ranges of which (ResourceID, ETag)
// version are durable on disk, whether the whole file was verified, its allocated size and last use.
import type { Statement } from 'better-sqlite3';
import type { ETag, ItemId } from '../shared/ids';
import { ByteRanges, type Span } from './byte-ranges';
import type { Db } from './schema';

export interface CacheEntry {
  id: ItemId;
  etag: ETag;
  file: string;
  size: number;
  /** Every byte present and checked against DataSize + XORHash. */
  verified: boolean;
  /** Bytes the file occupies on disk (st_blocks * 512). */
  allocated: number;
  /** Holds local modifications not yet uploaded (write path): never evicted. */
  dirty: boolean;
  lastAccessMs: number;
}

interface EntryRow {
  id: string;
  etag: string;
  file: string;
  size: number;
  verified: number;
  allocated: number;
  dirty: number;
  last_access_ms: number;
}

export class CacheIndex {
  private readonly q: {
    get: Statement<[string, string], EntryRow>;
    put: Statement<unknown[]>;
    touch: Statement<[number, string, string]>;
    remove: Statement<[string, string]>;
    all: Statement<[], EntryRow>;
    evictable: Statement<[], EntryRow>;
    total: Statement<[], { n: number | null }>;
    held: Statement<[], { pinned: number | null; dirty: number | null }>;
    ofItem: Statement<[string], EntryRow>;
    stale: Statement<[], EntryRow>;
    markCached: Statement<[string, string]>;
    markOnline: Statement<[string, string]>;
    ranges: Statement<[string, string], { start: number; end: number }>;
    clearRanges: Statement<[string, string]>;
    addRange: Statement<[string, string, number, number]>;
    setAllocated: Statement<[number, string, string]>;
    setVerified: Statement<[string, string]>;
    setDirty: Statement<[number, string, string]>;
  };

  constructor(private readonly db: Db) {
    this.q = {
      get: db.prepare('SELECT * FROM cache_entries WHERE id = ? AND etag = ?'),
      put: db.prepare(`
        INSERT INTO cache_entries (id, etag, file, size, verified, allocated, dirty, last_access_ms)
        VALUES (@id, @etag, @file, @size, @verified, @allocated, @dirty, @last_access_ms)
        ON CONFLICT (id, etag) DO UPDATE SET file = excluded.file, size = excluded.size,
          verified = excluded.verified, allocated = excluded.allocated, last_access_ms = excluded.last_access_ms`),
      touch: db.prepare('UPDATE cache_entries SET last_access_ms = ? WHERE id = ? AND etag = ?'),
      remove: db.prepare('DELETE FROM cache_entries WHERE id = ? AND etag = ?'),
      all: db.prepare('SELECT * FROM cache_entries'),
      // Least recently used first; dirty entries and pinned items are never candidates.
      evictable: db.prepare(`
        SELECT c.* FROM cache_entries c LEFT JOIN items i ON i.id = c.id
        WHERE c.dirty = 0 AND COALESCE(i.pinned, 0) = 0 ORDER BY c.last_access_ms, c.id`),
      total: db.prepare('SELECT SUM(allocated) AS n FROM cache_entries'),
      held: db.prepare(`
        SELECT SUM(CASE WHEN c.dirty = 0 AND COALESCE(i.pinned, 0) = 1 THEN c.allocated END) AS pinned,
               SUM(CASE WHEN c.dirty = 1 THEN c.allocated END) AS dirty
        FROM cache_entries c LEFT JOIN items i ON i.id = c.id`),
      ofItem: db.prepare('SELECT * FROM cache_entries WHERE id = ?'),
      stale: db.prepare(`
        SELECT c.* FROM cache_entries c LEFT JOIN items i ON i.id = c.id AND i.etag = c.etag
        WHERE i.id IS NULL AND c.dirty = 0`),
      markCached: db.prepare("UPDATE items SET hydration = 'cached' WHERE id = ? AND etag = ?"),
      markOnline: db.prepare("UPDATE items SET hydration = 'online' WHERE id = ? AND etag = ?"),
      ranges: db.prepare('SELECT start, end FROM cache_ranges WHERE id = ? AND etag = ? ORDER BY start'),
      clearRanges: db.prepare('DELETE FROM cache_ranges WHERE id = ? AND etag = ?'),
      addRange: db.prepare('INSERT INTO cache_ranges (id, etag, start, end) VALUES (?, ?, ?, ?)'),
      setAllocated: db.prepare('UPDATE cache_entries SET allocated = ? WHERE id = ? AND etag = ?'),
      setVerified: db.prepare('UPDATE cache_entries SET verified = 1 WHERE id = ? AND etag = ?'),
      setDirty: db.prepare('UPDATE cache_entries SET dirty = ? WHERE id = ? AND etag = ?'),
    };
  }

  get(id: ItemId, etag: ETag): CacheEntry | undefined {
    const row = this.q.get.get(id, etag);
    return row && toEntry(row);
  }

  /** Creates or replaces an entry (its ranges stay unless `ranges` is given); a verified one marks the item cached. */
  put(entry: Omit<CacheEntry, 'dirty'>, ranges?: readonly Span[]): void {
    this.db.transaction(() => {
      this.q.put.run({
        id: entry.id,
        etag: entry.etag,
        file: entry.file,
        size: entry.size,
        verified: entry.verified ? 1 : 0,
        allocated: entry.allocated,
        dirty: 0,
        last_access_ms: entry.lastAccessMs,
      });
      if (ranges) this.writeRanges(entry.id, entry.etag, ranges);
      if (entry.verified) this.q.markCached.run(entry.id, entry.etag);
    })();
  }

  /** Durable ranges of a version (empty when it has no entry). */
  ranges(id: ItemId, etag: ETag): ByteRanges {
    return new ByteRanges(this.q.ranges.all(id, etag).map((r) => [r.start, r.end] as const));
  }

  /** Records bytes that are already fsynced, merged with what is there, plus the file's new allocated size. */
  addRange(id: ItemId, etag: ETag, start: number, end: number, allocated: number): void {
    this.db.transaction(() => {
      const merged = this.ranges(id, etag);
      merged.add(start, end);
      this.writeRanges(id, etag, merged.list());
      this.q.setAllocated.run(allocated, id, etag);
    })();
  }

  /** Forgets every range (a version that failed verification); the entry stays, unverified, with `allocated`. */
  clearRanges(id: ItemId, etag: ETag, allocated: number): void {
    this.db.transaction(() => {
      this.q.clearRanges.run(id, etag);
      this.q.setAllocated.run(allocated, id, etag);
      this.q.markOnline.run(id, etag);
    })();
  }

  markVerified(id: ItemId, etag: ETag): void {
    this.db.transaction(() => {
      this.q.setVerified.run(id, etag);
      this.q.markCached.run(id, etag);
    })();
  }

  setAllocated(id: ItemId, etag: ETag, allocated: number): void {
    this.q.setAllocated.run(allocated, id, etag);
  }

  /** The write path's hook: a dirty entry is never evicted nor swept. */
  setDirty(id: ItemId, etag: ETag, dirty: boolean): void {
    this.q.setDirty.run(dirty ? 1 : 0, id, etag);
  }

  touch(id: ItemId, etag: ETag, nowMs: number): void {
    this.q.touch.run(nowMs, id, etag);
  }

  remove(id: ItemId, etag: ETag): void {
    this.db.transaction(() => {
      this.q.remove.run(id, etag);
      this.q.markOnline.run(id, etag);
    })();
  }

  all(): CacheEntry[] {
    return this.q.all.all().map(toEntry);
  }

  /** Eviction candidates, least recently used first (not dirty, item not pinned). */
  evictable(): CacheEntry[] {
    return this.q.evictable.all().map(toEntry);
  }

  /** Entries whose item is gone or has moved on to another version: nobody can ask for them again. */
  stale(): CacheEntry[] {
    return this.q.stale.all().map(toEntry);
  }

  /** Every cached version of one item. */
  ofItem(id: ItemId): CacheEntry[] {
    return this.q.ofItem.all(id).map(toEntry);
  }

  /** Allocated bytes eviction may not touch: of pinned items, and of entries holding local changes. */
  heldBytes(): { pinned: number; dirty: number } {
    const r = this.q.held.get();
    return { pinned: r?.pinned ?? 0, dirty: r?.dirty ?? 0 };
  }

  /** Allocated bytes of every entry. */
  totalBytes(): number {
    return this.q.total.get()?.n ?? 0;
  }

  private writeRanges(id: ItemId, etag: ETag, spans: readonly Span[]): void {
    this.q.clearRanges.run(id, etag);
    for (const [s, e] of spans) this.q.addRange.run(id, etag, s, e);
  }
}

function toEntry(r: EntryRow): CacheEntry {
  return {
    id: r.id as ItemId,
    etag: r.etag as ETag,
    file: r.file,
    size: r.size,
    verified: r.verified === 1,
    allocated: r.allocated,
    dirty: r.dirty === 1,
    lastAccessMs: r.last_access_ms,
  };
}
