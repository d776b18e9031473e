// Every library the server hosts (one per personal site, one per team site), each in its own folder under the data
// dir (SQLite + blobs), plus `libraries.json` recording which folder holds which site. Resolves who may use which.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Clock } from '../shared/clock';
import { InvalidInputError } from '../shared/errors';
import { normaliseGuid } from '../shared/ids';
import type { Logger } from '../shared/logger';
import type { ServerContext } from './context';
import { type GenerateSpec, generateItems } from './library-generator';
import { importSeed } from './seed-import';
import { type LibraryMeta, Store } from './store';
import { wholeSecond } from './time-format';

/** What one library is: its site key (`personal/alice`, `sites/team`), who may use it, and its handler context. */
export interface HostedLibrary {
  /** Canonical site path without slashes at the ends, as configured: `personal/<alias>` or `sites/<name>`. */
  site: string;
  /** Lower-case user names with access. */
  members: ReadonlySet<string>;
  ctx: ServerContext;
}

export interface LibrarySpec {
  site: string;
  members: readonly string[];
  seedDir?: string;
  /** Instead of a seed: a synthetic library of this shape (library-generator.ts). */
  generate?: GenerateSpec;
  /** Ids for a new library (list, site, root, seeded items); default randomUUID. */
  idFactory?: () => string;
}

export interface RegistryDeps {
  dataDir: string;
  clock: Clock;
  logger: Logger;
  /** Builds the handler context of an opened library. */
  makeContext: (store: Store, meta: LibraryMeta, site: string) => ServerContext;
}

const REGISTRY_FILE = 'libraries.json';
const LEGACY_DB = 'spfs-server.sqlite';

interface RegistryJson {
  version: 1;
  /** site key (lower case) → folder name under dataDir/libraries. */
  libraries: Record<string, string>;
}

export class LibraryRegistry {
  private readonly bySiteKey = new Map<string, HostedLibrary>();
  private readonly byList = new Map<string, HostedLibrary>();

  private constructor(private readonly deps: RegistryDeps) {}

  /** Opens (creating and seeding on first use) every library in `specs`, in order. */
  static async open(deps: RegistryDeps, specs: readonly LibrarySpec[]): Promise<LibraryRegistry> {
    const reg = new LibraryRegistry(deps);
    try {
      const json = await reg.readRegistry();
      await reg.adoptLegacyLayout(json, specs[0]?.site);
      for (const spec of specs) await reg.openOne(json, spec);
      await reg.writeRegistry(json);
    } catch (err) {
      reg.close();
      throw err;
    }
    return reg;
  }

  /** The library of a site path (`personal/x`, `sites/y`, any case), if hosted. */
  site(key: string): HostedLibrary | undefined {
    return this.bySiteKey.get(key.toLowerCase());
  }

  /** The library with this list id (32 hex), if hosted. */
  byListId(listId: string): HostedLibrary | undefined {
    return this.byList.get(listId);
  }

  /** The user's own personal library. */
  personal(user: string): HostedLibrary | undefined {
    return this.site(`personal/${user}`);
  }

  canAccess(user: string, lib: HostedLibrary): boolean {
    return lib.members.has(user.toLowerCase());
  }

  all(): HostedLibrary[] {
    return [...this.bySiteKey.values()];
  }

  close(): void {
    for (const lib of this.bySiteKey.values()) lib.ctx.store.close();
    this.bySiteKey.clear();
    this.byList.clear();
  }

  private async openOne(json: RegistryJson, spec: LibrarySpec): Promise<void> {
    const key = spec.site.toLowerCase();
    const folder = (json.libraries[key] ??= key.replace('/', '-'));
    const dir = path.join(this.deps.dataDir, 'libraries', folder);
    const blobDir = path.join(dir, 'blobs');
    await fs.promises.mkdir(blobDir, { recursive: true });
    const store = new Store(dir);
    try {
      const existing = store.meta();
      const meta = existing ?? (await this.createLibrary(store, blobDir, spec));
      if (existing && spec.seedDir !== undefined) {
        this.deps.logger.info(
          { site: spec.site, seedDir: spec.seedDir },
          'existing library: seed not imported again',
        );
      }
      const lib: HostedLibrary = {
        site: spec.site,
        members: new Set(spec.members.map((m) => m.toLowerCase())),
        ctx: this.deps.makeContext(store, meta, spec.site),
      };
      if (this.byList.has(meta.listId))
        throw new InvalidInputError(`two libraries share list id ${meta.listId}`);
      this.bySiteKey.set(key, lib);
      this.byList.set(meta.listId, lib);
    } catch (err) {
      store.close();
      throw err;
    }
  }

  private async createLibrary(store: Store, blobDir: string, spec: LibrarySpec): Promise<LibraryMeta> {
    const { clock, logger } = this.deps;
    // No meta means any row or blob here is left from an interrupted first start.
    store.wipeIncomplete();
    for (const f of await fs.promises.readdir(blobDir))
      await fs.promises.rm(path.join(blobDir, f), { force: true });
    const newId = (): string => {
      const raw = spec.idFactory ? spec.idFactory() : randomUUID();
      const id = normaliseGuid(raw);
      if (id === undefined)
        throw new InvalidInputError(`idFactory returned a non-GUID: ${JSON.stringify(raw)}`);
      return id;
    };
    const meta: LibraryMeta = { listId: newId(), siteId: newId(), rootId: newId(), epoch: randomUUID() };
    const nowMs = wholeSecond(clock.now());
    if (spec.generate !== undefined) {
      const started = Date.now();
      store.insertRoot(meta.rootId, nowMs);
      const items = generateItems({ store, rootId: meta.rootId, nowMs, newId, spec: spec.generate });
      store.writeMeta(meta);
      const ms = Date.now() - started;
      logger.info({ site: spec.site, items, generate: spec.generate, ms }, 'library generated');
      return meta;
    }
    const rows = spec.seedDir
      ? await importSeed({ seedDir: spec.seedDir, blobDir, rootId: meta.rootId, nowMs, newId, logger })
      : [];
    store.initLibrary(meta, nowMs, rows);
    logger.info({ site: spec.site, items: rows.length, seedDir: spec.seedDir }, 'library created');
    return meta;
  }

  private async readRegistry(): Promise<RegistryJson> {
    try {
      const raw = JSON.parse(
        await fs.promises.readFile(path.join(this.deps.dataDir, REGISTRY_FILE), 'utf8'),
      ) as Partial<RegistryJson>;
      if (typeof raw.libraries === 'object' && raw.libraries !== null)
        return { version: 1, libraries: raw.libraries };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return { version: 1, libraries: {} };
  }

  private async writeRegistry(json: RegistryJson): Promise<void> {
    const file = path.join(this.deps.dataDir, REGISTRY_FILE);
    const tmp = `${file}.tmp`;
    await fs.promises.writeFile(tmp, `${JSON.stringify(json, null, 2)}\n`);
    await fs.promises.rename(tmp, file);
  }

  /** A data dir from before multi-user support (db + blobs at the top) becomes the first site's library folder. */
  private async adoptLegacyLayout(json: RegistryJson, firstSite: string | undefined): Promise<void> {
    const { dataDir } = this.deps;
    if (firstSite === undefined || !fs.existsSync(path.join(dataDir, LEGACY_DB))) return;
    const key = firstSite.toLowerCase();
    if (json.libraries[key] !== undefined) return;
    const folder = key.replace('/', '-');
    const dir = path.join(dataDir, 'libraries', folder);
    await fs.promises.mkdir(dir, { recursive: true });
    for (const name of [LEGACY_DB, `${LEGACY_DB}-wal`, `${LEGACY_DB}-shm`, 'blobs', 'uploads']) {
      if (fs.existsSync(path.join(dataDir, name)))
        await fs.promises.rename(path.join(dataDir, name), path.join(dir, name));
    }
    json.libraries[key] = folder;
    this.deps.logger.info({ site: firstSite }, 'moved a single-library data dir into libraries/');
  }
}
