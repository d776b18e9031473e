// Test harness for the reference server: temp dirs, seed trees with fixed mtimes, a settable clock, deterministic
// ids, authenticated fetch, and cleanup of everything it created.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Clock } from '../../src/shared/clock';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server';

export const SEED_TIME = new Date('2025-03-01T08:00:00Z');
export const CLOCK_START_MS = Date.parse('2025-03-04T10:11:12Z');
export const USER = { name: 'alice', password: 'wonderland' };

export class TestClock implements Clock {
  constructor(public ms: number = CLOCK_START_MS) {}
  now(): number {
    return this.ms;
  }
  sleep(): Promise<void> {
    return Promise.resolve();
  }
}

/** Ids handed out in order; falls back to numbered ids when the list runs out. */
export function idQueue(ids: string[]): () => string {
  let n = 0;
  return () => ids.shift() ?? `ffffffff00000000000000${String(++n).padStart(10, '0')}`;
}

/** Seed spec: path → file content (string/Buffer), or null for an (empty) folder. */
export type SeedSpec = Record<string, string | Buffer | null>;

export class Harness {
  private readonly dirs: string[] = [];
  private readonly servers: RunningServer[] = [];

  async tempDir(prefix = 'spfs-server-'): Promise<string> {
    const d = await fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  /** Writes the tree and sets every file's and folder's mtime to SEED_TIME. */
  async seed(spec: SeedSpec): Promise<string> {
    const root = await this.tempDir('spfs-seed-');
    for (const [rel, content] of Object.entries(spec)) {
      const full = path.join(root, rel);
      if (content === null) await fs.promises.mkdir(full, { recursive: true });
      else {
        await fs.promises.mkdir(path.dirname(full), { recursive: true });
        await fs.promises.writeFile(full, content);
      }
    }
    const touch = async (dir: string): Promise<void> => {
      for (const e of await fs.promises.readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await touch(p);
        if (!e.isSymbolicLink()) await fs.promises.utimes(p, SEED_TIME, SEED_TIME);
      }
    };
    await touch(root);
    return root;
  }

  async start(opts: Partial<ServerOptions> & { dataDir?: string } = {}): Promise<RunningServer> {
    const dataDir = opts.dataDir ?? (await this.tempDir('spfs-data-'));
    const srv = await startServer({ users: [USER], clock: new TestClock(), ...opts, dataDir });
    this.servers.push(srv);
    return srv;
  }

  async cleanup(): Promise<void> {
    for (const s of this.servers.splice(0)) await s.close();
    for (const d of this.dirs.splice(0)) await fs.promises.rm(d, { recursive: true, force: true });
  }
}

/** The folder of a user's personal library inside a server data dir (SQLite + blobs), for tests that open the Store. */
export function libraryDir(dataDir: string, user = USER.name): string {
  return path.join(dataDir, 'libraries', `personal-${user.toLowerCase()}`);
}

export function basic(user = USER.name, password = USER.password): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers: { authorization: basic(), ...headers } });
}

export function sfs(srv: RunningServer, rest: string): string {
  return `${srv.siteUrl}/_api/SPFileSync/sync/${srv.listId}/${rest}`;
}
