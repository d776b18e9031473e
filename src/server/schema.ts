// The server's only DDL: items (current state, tombstones kept), the change log, BITS upload sessions and meta.
// Opened in WAL mode; older data directories are migrated in place (columns added, never dropped).
import Database from 'better-sqlite3';

const SCHEMA_VERSION = '2';

const DDL = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
  ord INTEGER PRIMARY KEY,              -- insertion order: the stable cursor of full enumerations
  resource_id TEXT NOT NULL UNIQUE,     -- 32 lowercase hex
  parent_id TEXT,                       -- NULL only for the library root
  name TEXT NOT NULL,
  name_key TEXT NOT NULL,               -- NFC + lower case: SharePoint names are case-insensitive
  kind TEXT NOT NULL CHECK (kind IN ('folder', 'document')),
  size INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1,
  hash TEXT,
  mime TEXT,
  created_ms INTEGER NOT NULL,
  modified_ms INTEGER NOT NULL,
  blob TEXT,                            -- file name under dataDir/blobs
  deleted INTEGER NOT NULL DEFAULT 0,
  last_seq INTEGER NOT NULL,            -- newest change_log.seq about this item
  changed_ms INTEGER NOT NULL           -- time of that change (ChangeTime)
);
CREATE INDEX IF NOT EXISTS items_children ON items (parent_id, deleted, name_key, resource_id);
CREATE UNIQUE INDEX IF NOT EXISTS items_live_name ON items (parent_id, name_key) WHERE deleted = 0;
CREATE INDEX IF NOT EXISTS items_last_seq ON items (last_seq);
CREATE TABLE IF NOT EXISTS change_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  item_id TEXT NOT NULL,
  change TEXT NOT NULL,                 -- create | content | rename | move | meta | delete
  time_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS change_log_time ON change_log (time_ms);
CREATE TABLE IF NOT EXISTS upload_sessions (
  id TEXT PRIMARY KEY,                  -- BITS session id, dashed lowercase GUID
  owner TEXT NOT NULL,                  -- the user who created it; nobody else may use it
  received INTEGER NOT NULL DEFAULT 0,  -- contiguous bytes on disk (uploads/<id>.part)
  total INTEGER,                        -- from the first Content-Range; NULL until then
  touched_ms INTEGER NOT NULL           -- last packet: idle sessions expire
);
`;

/** Columns added after schema version 1: name → definition. */
const ADDED_COLUMNS: Record<string, string> = {
  modifier: 'TEXT', // X-CustomIdentity of the last writer (ModifierIdentity)
  modified_by: 'TEXT', // user name of the last writer (LastModifiedBy)
  created_by: 'TEXT',
  locked_by: 'TEXT', // non-NULL: the item is locked (writes get Locked / 423)
};

export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.exec(DDL);
  const have = new Set(
    db
      .prepare<[], { name: string }>('PRAGMA table_info(items)')
      .all()
      .map((c) => c.name),
  );
  for (const [name, type] of Object.entries(ADDED_COLUMNS)) {
    if (!have.has(name)) db.exec(`ALTER TABLE items ADD COLUMN ${name} ${type}`);
  }
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(SCHEMA_VERSION);
  return db;
}
