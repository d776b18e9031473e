// Hot (parent, name) → item lookups with their attributes, bounded by an LRU; SQLite stays the source of truth.
// Every entry is dropped as soon as the metadata database changes (any commit), so a hit is never stale.
import { LRUCache } from 'lru-cache';
import type { StoredItem } from '../cache/metadata-store';
import type { FileAttr } from './types';

export interface CachedEntry {
  item: StoredItem;
  attr: FileAttr;
}

export interface LookupCacheOptions {
  /** Entries kept at most. */
  maxEntries: number;
  /** Change counter of the metadata database; a new value empties the cache. */
  version: () => number;
}

export const DEFAULT_LOOKUP_ENTRIES = 10_000;

export class LookupCache {
  private readonly lru: LRUCache<string, CachedEntry>;
  private seen: number;

  constructor(private readonly o: LookupCacheOptions) {
    this.lru = new LRUCache<string, CachedEntry>({ max: Math.max(1, o.maxEntries) });
    this.seen = o.version();
  }

  /** Empties the cache when the database changed since the last call; call once per operation. */
  revalidate(): void {
    const v = this.o.version();
    if (v !== this.seen) {
      this.seen = v;
      this.lru.clear();
    }
  }

  get(parentId: string, name: string): CachedEntry | undefined {
    return this.lru.get(key(parentId, name));
  }

  set(parentId: string, name: string, entry: CachedEntry): void {
    this.lru.set(key(parentId, name), entry);
  }

  get size(): number {
    return this.lru.size;
  }
}

/** The exact name (not folded): a differently cased lookup is a miss answered by SQLite. */
function key(parentId: string, name: string): string {
  return parentId + '/' + name;
}
