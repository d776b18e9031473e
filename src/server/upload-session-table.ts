// The upload_sessions table (BITS sessions of E9): one row per open session, so sessions survive a restart.
import type Database from 'better-sqlite3';

export interface UploadSession {
  /** Dashed lowercase GUID. */
  id: string;
  owner: string;
  /** Contiguous bytes on disk. */
  received: number;
  /** Total size from the first Content-Range; null until then. */
  total: number | null;
  touchedMs: number;
}

interface Row {
  id: string;
  owner: string;
  received: number;
  total: number | null;
  touched_ms: number;
}

export class UploadSessionTable {
  private readonly q;

  constructor(db: Database.Database) {
    this.q = {
      get: db.prepare<[string], Row>('SELECT * FROM upload_sessions WHERE id = ?'),
      put: db.prepare(
        `INSERT OR REPLACE INTO upload_sessions (id, owner, received, total, touched_ms)
         VALUES (@id, @owner, @received, @total, @touchedMs)`,
      ),
      drop: db.prepare('DELETE FROM upload_sessions WHERE id = ?'),
      idle: db.prepare<[number], { id: string }>('SELECT id FROM upload_sessions WHERE touched_ms < ?'),
      all: db.prepare<[], { id: string }>('SELECT id FROM upload_sessions'),
    };
  }

  get(id: string): UploadSession | undefined {
    const r = this.q.get.get(id);
    return r
      ? { id: r.id, owner: r.owner, received: r.received, total: r.total, touchedMs: r.touched_ms }
      : undefined;
  }

  put(s: UploadSession): void {
    this.q.put.run(s);
  }

  drop(id: string): void {
    this.q.drop.run(id);
  }

  /** Ids of sessions without a packet since `beforeMs`. */
  idle(beforeMs: number): string[] {
    return this.q.idle.all(beforeMs).map((r) => r.id);
  }

  ids(): Set<string> {
    return new Set(this.q.all.all().map((r) => r.id));
  }
}
