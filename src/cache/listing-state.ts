// Which folders' children are all known (items.children_complete, or a finished full pass, or a folder made here),
// and a change counter of the metadata database. Read-only, on its own connection (PRAGMA data_version moves whenever
// another connection commits); the MetadataStore writes children_complete.
import type { Statement } from 'better-sqlite3';
import type { ItemId } from '../shared/ids';
import { openDatabase, type Db } from './schema';
import { isLocalId } from './upload-journal';

export class ListingState {
  private readonly q: {
    complete: Statement<[string], { c: number }>;
  };
  private readonly dataVersion: Statement<[], { data_version: number }>;
  private constructor(private readonly db: Db) {
    this.q = {
      // A saved token means a full pass ended, so every folder's documents are in the table.
      complete: db.prepare(`
        SELECT (SELECT COUNT(*) FROM sync_state WHERE slot = 1 AND token IS NOT NULL)
             + COALESCE((SELECT children_complete FROM items WHERE id = ?), 0) AS c`),
    };
    this.dataVersion = db.prepare('PRAGMA data_version');
  }

  /** Opens a second connection on the metadata database file (the MetadataStore has created and migrated it). */
  static open(file: string): ListingState {
    return new ListingState(openDatabase(file));
  }

  /** True when every child of the folder is in the items table (no listing needed). */
  isComplete(folderId: ItemId): boolean {
    // A folder made here that the server does not know yet: every child is in the table, and asking the server for
    // its children could only fail (404, or the network's errno for a local mkdir/create/lookup).
    if (isLocalId(folderId)) return true;
    return (this.q.complete.get(folderId)?.c ?? 0) > 0;
  }

  /** Changes whenever the metadata store commits (any table); equal values mean nothing changed in between. */
  version(): number {
    return this.dataVersion.get()?.data_version ?? 0;
  }

  close(): void {
    this.db.close();
  }
}
