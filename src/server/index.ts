// The reference SPFileSync server: opens (or creates and seeds) the library in dataDir and serves it over HTTP with
// Basic auth. Public API used by `spfs serve` and by every integration test.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { type Clock, systemClock } from '../shared/clock';
import { InvalidInputError } from '../shared/errors';
import { normaliseGuid } from '../shared/ids';
import { type Logger, silentLogger } from '../shared/logger';
import { BasicAuth } from './basic-auth';
import type { ServerContext } from './context';
import type { ServerFaults } from './faults';
import { handleRequest } from './request-handler';
import { RequestLog } from './request-log';
import { importSeed } from './seed-import';
import { type LibraryMeta, Store } from './store';
import { wholeSecond } from './time-format';

export interface ServerOptions {
  /** SQLite (items + change log) and content blobs live here; created if missing. */
  dataDir: string;
  /** On first start only (empty db), import this local tree (folders + files, bytes copied). */
  seedDir?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** HTTP Basic users; at least one. Names must be URL-safe ([A-Za-z0-9._-]). */
  users: { name: string; password: string }[];
  logger?: Logger;
  /** If set, one JSON line per request: {t, method, path, query, status, user, bytes, range?, ms}. */
  requestLogFile?: string;
  /** For deterministic timestamps in tests. */
  clock?: Clock;
  /** Ids for a new library, called for list, site, root, then each seeded item in import order. Default randomUUID. */
  idFactory?: () => string;
  /** SpaceGranted of the quota, bytes. Default 100 GiB. */
  spaceGrantedBytes?: number;
  /** Policy ItemCount: default page size of change enumeration. Default 500. */
  itemCount?: number;
  /** Injected faults (slow downloads, ...); none by default. */
  faults?: ServerFaults;
}

export interface RunningServer {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** {origin}/personal/<first user>: what `spfs mount` takes. */
  siteUrl: string;
  /** 32 hex. */
  listId: string;
  /** Stops listening, closes connections and the db. */
  close(): Promise<void>;
}

const DEFAULT_SPACE_GRANTED_BYTES = 100 * 1024 ** 3;
const DEFAULT_ITEM_COUNT = 500;
const MAX_FILE_SIZE_BYTES = 15 * 1024 ** 3;
const INLINE_UPLOAD_THRESHOLD_BYTES = 8 * 1024 * 1024;
const POLLING_INTERVAL_SECONDS = 120;
const USER_NAME = /^[A-Za-z0-9._-]+$/;

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  if (opts.users.length === 0) throw new InvalidInputError('startServer: at least one user is required');
  for (const u of opts.users) {
    if (!USER_NAME.test(u.name))
      throw new InvalidInputError(`user name must match ${USER_NAME.source}: ${u.name}`);
  }
  const logger = opts.logger ?? silentLogger();
  const clock = opts.clock ?? systemClock;
  const blobDir = path.join(opts.dataDir, 'blobs');
  await fs.promises.mkdir(blobDir, { recursive: true });
  const store = new Store(opts.dataDir);
  let requestLog: RequestLog | undefined;
  try {
    const existing = store.meta();
    const meta = existing ?? (await createLibrary(store, blobDir, opts, clock, logger));
    if (existing && opts.seedDir !== undefined) {
      logger.info({ seedDir: opts.seedDir }, 'existing library: seed directory not imported again');
    }
    const ctx: ServerContext = {
      store,
      meta,
      clock,
      logger,
      spaceGrantedBytes: opts.spaceGrantedBytes ?? DEFAULT_SPACE_GRANTED_BYTES,
      itemCount: opts.itemCount ?? DEFAULT_ITEM_COUNT,
      maxFileSizeBytes: MAX_FILE_SIZE_BYTES,
      inlineUploadThresholdBytes: INLINE_UPLOAD_THRESHOLD_BYTES,
      pollingIntervalSeconds: POLLING_INTERVAL_SECONDS,
      faults: opts.faults ?? {},
    };
    if (opts.requestLogFile !== undefined) requestLog = new RequestLog(opts.requestLogFile);
    const auth = new BasicAuth(opts.users);
    const userNames = opts.users.map((u) => u.name);
    let origin = '';
    const server = http.createServer((req, res) => {
      handleRequest(ctx, { auth, userNames, origin, requestLog }, req, res).catch((err: unknown) => {
        logger.error({ err }, 'request handler crashed');
        res.destroy();
      });
    });
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    origin = `http://${host}:${addr.port}`;
    const firstUser = opts.users[0]?.name ?? '';
    logger.info({ origin, listId: meta.listId }, 'spfs server listening');
    let closing: Promise<void> | undefined;
    return {
      origin,
      siteUrl: `${origin}/personal/${firstUser}`,
      listId: meta.listId,
      close: () =>
        (closing ??= (async () => {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeAllConnections();
          await closed;
          store.close();
          await requestLog?.close();
        })()),
    };
  } catch (err) {
    store.close();
    await requestLog?.close();
    throw err;
  }
}

async function createLibrary(
  store: Store,
  blobDir: string,
  opts: ServerOptions,
  clock: Clock,
  logger: Logger,
): Promise<LibraryMeta> {
  // An empty db means any blob here is an orphan of an interrupted first start.
  for (const f of await fs.promises.readdir(blobDir))
    await fs.promises.rm(path.join(blobDir, f), { force: true });
  const newId = (): string => {
    const raw = opts.idFactory ? opts.idFactory() : randomUUID();
    const id = normaliseGuid(raw);
    if (id === undefined)
      throw new InvalidInputError(`idFactory returned a non-GUID: ${JSON.stringify(raw)}`);
    return id;
  };
  const meta: LibraryMeta = { listId: newId(), siteId: newId(), rootId: newId(), epoch: randomUUID() };
  const nowMs = wholeSecond(clock.now());
  const rows = opts.seedDir
    ? await importSeed({ seedDir: opts.seedDir, blobDir, rootId: meta.rootId, nowMs, newId, logger })
    : [];
  store.initLibrary(meta, nowMs, rows);
  logger.info({ items: rows.length, seedDir: opts.seedDir }, 'library created');
  return meta;
}
