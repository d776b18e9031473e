// The server's only DDL: items (current state, tombstones kept), the change log and meta. Opened in WAL mode.
import Database from 'better-sqlite3';

const SCHEMA_VERSION = '1';

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
  change TEXT NOT NULL,                 -- create | update | rename | move | delete | content
  time_ms INTEGER NOT NULL
);
`;

export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.exec(DDL);
  db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)").run(SCHEMA_VERSION);
  return db;
}
