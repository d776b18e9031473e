// The content cache's index (table cache_entries): which (ResourceID, ETag) versions have a complete, verified file
// on disk, how big it is and when it was last used. Kept in the metadata database so hydration state is one query.
import type { Statement } from 'better-sqlite3';
import type { ETag, ItemId } from '../shared/ids';
import type { Db } from './schema';

export interface CacheEntry {
  id: ItemId;
  etag: ETag;
  file: string;
  size: number;
  verified: boolean;
  lastAccessMs: number;
}

interface EntryRow {
  id: string;
  etag: string;
  file: string;
  size: number;
  verified: number;
  last_access_ms: number;
}

export class CacheIndex {
  private readonly q: {
    get: Statement<[string, string], EntryRow>;
    put: Statement<unknown[]>;
    touch: Statement<[number, string, string]>;
    remove: Statement<[string, string]>;
    all: Statement<[], EntryRow>;
    lru: Statement<[], EntryRow>;
    total: Statement<[], { n: number | null }>;
    stale: Statement<[], EntryRow>;
    markCached: Statement<[string, string]>;
    markOnline: Statement<[string, string]>;
  };

  constructor(private readonly db: Db) {
    this.q = {
      get: db.prepare('SELECT * FROM cache_entries WHERE id = ? AND etag = ?'),
      put: db.prepare(`
        INSERT OR REPLACE INTO cache_entries (id, etag, file, size, verified, last_access_ms)
        VALUES (@id, @etag, @file, @size, @verified, @last_access_ms)`),
      touch: db.prepare('UPDATE cache_entries SET last_access_ms = ? WHERE id = ? AND etag = ?'),
      remove: db.prepare('DELETE FROM cache_entries WHERE id = ? AND etag = ?'),
      all: db.prepare('SELECT * FROM cache_entries'),
      lru: db.prepare('SELECT * FROM cache_entries ORDER BY last_access_ms, id'),
      total: db.prepare('SELECT SUM(size) AS n FROM cache_entries'),
      stale: db.prepare(`
        SELECT c.* FROM cache_entries c LEFT JOIN items i ON i.id = c.id AND i.etag = c.etag WHERE i.id IS NULL`),
      markCached: db.prepare("UPDATE items SET hydration = 'cached' WHERE id = ? AND etag = ?"),
      markOnline: db.prepare("UPDATE items SET hydration = 'online' WHERE id = ? AND etag = ?"),
    };
  }

  get(id: ItemId, etag: ETag): CacheEntry | undefined {
    const row = this.q.get.get(id, etag);
    return row && toEntry(row);
  }

  /** Records a file whose bytes are already durable on disk, and marks the item version as cached. */
  put(entry: CacheEntry): void {
    this.db.transaction(() => {
      this.q.put.run({
        id: entry.id,
        etag: entry.etag,
        file: entry.file,
        size: entry.size,
        verified: entry.verified ? 1 : 0,
        last_access_ms: entry.lastAccessMs,
      });
      if (entry.verified) this.q.markCached.run(entry.id, entry.etag);
    })();
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

  /** Least recently used first. */
  byLastAccess(): CacheEntry[] {
    return this.q.lru.all().map(toEntry);
  }

  /** Entries whose item is gone or has moved on to another version: nobody can ask for them again. */
  stale(): CacheEntry[] {
    return this.q.stale.all().map(toEntry);
  }

  totalBytes(): number {
    return this.q.total.get()?.n ?? 0;
  }
}

function toEntry(r: EntryRow): CacheEntry {
  return {
    id: r.id as ItemId,
    etag: r.etag as ETag,
    file: r.file,
    size: r.size,
    verified: r.verified === 1,
    lastAccessMs: r.last_access_ms,
  };
}
