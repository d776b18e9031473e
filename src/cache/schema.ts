// The only DDL of the client database: versioned migrations keyed by `PRAGMA user_version`, applied in one
// transaction each, plus the connection pragmas (WAL, synchronous=NORMAL) every opener gets.
import Database from 'better-sqlite3';
import { SchemaVersionError } from './errors';

export type Db = Database.Database;

/** Each entry moves the schema from version `index` to `index + 1`. Append only; never edit a shipped step. */
const MIGRATIONS: readonly string[] = [
  // 1: metadata, sync state and content-cache index.
  `
  CREATE TABLE items (
    id          TEXT PRIMARY KEY,            -- ResourceID, 32 lowercase hex
    parent_id   TEXT NOT NULL,               -- ParentResourceID (the list id for the library root)
    name        TEXT NOT NULL,
    name_folded TEXT NOT NULL,               -- foldName(name): SharePoint names are case-insensitive
    kind        TEXT NOT NULL CHECK (kind IN ('folder', 'document')),
    size        INTEGER NOT NULL,
    etag        TEXT NOT NULL,
    hash        TEXT,
    download_url TEXT,
    mime        TEXT,
    created_ms  INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    hydration   TEXT NOT NULL DEFAULT 'online' CHECK (hydration IN ('online', 'cached')),
    pass_mark   INTEGER NOT NULL DEFAULT 0   -- generation of the last full pass that saw the item (mark-and-sweep)
  ) STRICT;
  -- Also serves every lookup by parent_id (leftmost prefix), so no separate parent index is needed.
  CREATE UNIQUE INDEX items_parent_name ON items (parent_id, name_folded);

  CREATE TABLE sync_state (
    slot          INTEGER PRIMARY KEY CHECK (slot = 1),  -- one library per database
    library_key   TEXT NOT NULL,
    list_id       TEXT NOT NULL,
    root_id       TEXT NOT NULL,
    token         TEXT,
    quota_used    INTEGER NOT NULL DEFAULT 0,
    quota_granted INTEGER NOT NULL DEFAULT 0,
    quota_state   TEXT NOT NULL DEFAULT 'Normal',
    updated_ms    INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE cache_entries (
    id             TEXT NOT NULL,
    etag           TEXT NOT NULL,
    file           TEXT NOT NULL UNIQUE,     -- base name inside the cache directory, derived from id + etag only
    size           INTEGER NOT NULL,
    verified       INTEGER NOT NULL DEFAULT 0,
    last_access_ms INTEGER NOT NULL,
    PRIMARY KEY (id, etag)
  ) STRICT;
  CREATE INDEX cache_entries_lru ON cache_entries (last_access_ms);
  `,
  // 2: range-level hydration (sparse files, present ranges per version), exact accounting, never-evict flags,
  // per-folder "children complete" for lazily listed folders. Version-1 entries were whole verified files.
  `
  ALTER TABLE cache_entries ADD COLUMN allocated INTEGER NOT NULL DEFAULT 0;  -- st_blocks * 512 of the file
  ALTER TABLE cache_entries ADD COLUMN dirty INTEGER NOT NULL DEFAULT 0;      -- set by the write path: never evict
  UPDATE cache_entries SET allocated = size;
  CREATE TABLE cache_ranges (
    id    TEXT NOT NULL,
    etag  TEXT NOT NULL,
    start INTEGER NOT NULL,                  -- [start, end) present and durable (fsynced before the row is written)
    end   INTEGER NOT NULL,
    PRIMARY KEY (id, etag, start),
    FOREIGN KEY (id, etag) REFERENCES cache_entries (id, etag) ON DELETE CASCADE
  ) STRICT;
  INSERT INTO cache_ranges (id, etag, start, end) SELECT id, etag, 0, size FROM cache_entries WHERE verified = 1;
  ALTER TABLE items ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;             -- keep offline: never evict
  ALTER TABLE items ADD COLUMN children_complete INTEGER NOT NULL DEFAULT 0;  -- folder: every child is in items
  `,
  // 3: the upload journal (write path): one row per item with local changes the server has not seen yet. Items
  // created locally carry a local id ('local-' + 32 hex) in items until the server assigns their ResourceID.
  `
  CREATE TABLE upload_journal (
    item_id       TEXT PRIMARY KEY,          -- items.id (local or server id); for a deleted item, its last id
    kind          TEXT NOT NULL CHECK (kind IN ('folder', 'document')),
    base_etag     TEXT,                      -- server version the local change is based on (NULL: new item)
    remote_parent TEXT,                      -- where the server has the item (NULL: new item)
    remote_name   TEXT,
    content       INTEGER NOT NULL DEFAULT 0,  -- 1: the dirty content file must be uploaded
    deleted       INTEGER NOT NULL DEFAULT 0,  -- 1: delete on the server (the items row is gone)
    size          INTEGER NOT NULL DEFAULT 0,  -- bytes to upload (for status and statfs)
    seq           INTEGER NOT NULL,            -- bumped at every local change; an upload compares it afterwards
    changed_ms    INTEGER NOT NULL,            -- last local change (write-back settle delay)
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_try_ms   INTEGER NOT NULL DEFAULT 0,
    failure       TEXT,                      -- why the last attempt failed
    permanent     INTEGER NOT NULL DEFAULT 0   -- 1: the server refuses it for good (name, size, permission)
  ) STRICT;
  `,
  // 4: the item's local copy (in dirty/) is named once, when it is made, and keeps that name when the item is
  // re-keyed or takes another item's place (rename over): moving content between items is one transaction, never
  // a file rename. Copies of version 3 were named after the item id.
  `
  ALTER TABLE items ADD COLUMN copy TEXT;    -- file name of the item's local copy in dirty/ (NULL: none)
  UPDATE items SET copy = id || '.bin' WHERE id IN (SELECT item_id FROM upload_journal WHERE content = 1);
  `,
  // 5: where a create of a new item was sent (before the request goes out), so that after a kill that lost the
  // server's reply the item found there is recognised as ours: adopted, moved, or deleted, never left as a copy.
  `
  ALTER TABLE upload_journal ADD COLUMN sent_parent TEXT;  -- a create of this new item went to this folder ...
  ALTER TABLE upload_journal ADD COLUMN sent_name TEXT;    -- ... under this name (NULL: none sent)
  `,
  // 6: pins are inherited: an item created in a pinned folder (by change sync or locally) is pinned, and an item
  // moved into one is pinned with everything under it (moving out keeps the flag, as OneDrive does). Triggers, so
  // that every path that writes items (server batches, the write path, re-keys) inherits in its own transaction.
  `
  CREATE INDEX items_pinned ON items (id) WHERE pinned = 1;
  CREATE TRIGGER items_pin_new AFTER INSERT ON items
    WHEN NEW.pinned = 0 AND EXISTS (SELECT 1 FROM items p WHERE p.id = NEW.parent_id AND p.pinned = 1)
  BEGIN
    UPDATE items SET pinned = 1 WHERE id = NEW.id;
  END;
  CREATE TRIGGER items_pin_moved AFTER UPDATE OF parent_id ON items
    WHEN NEW.parent_id IS NOT OLD.parent_id
      AND EXISTS (SELECT 1 FROM items p WHERE p.id = NEW.parent_id AND p.pinned = 1)
  BEGIN
    UPDATE items SET pinned = 1 WHERE pinned = 0 AND id IN (
      WITH RECURSIVE sub(id) AS (SELECT NEW.id UNION ALL SELECT i.id FROM items i JOIN sub ON i.parent_id = sub.id)
      SELECT id FROM sub);
  END;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Opens (creating if needed) the database file, sets the pragmas and brings the schema up to date. */
export function openDatabase(file: string): Db {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new SchemaVersionError(current, SCHEMA_VERSION);
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v] as string;
    db.transaction(() => {
      db.exec(step);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
