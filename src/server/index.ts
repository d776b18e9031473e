// The reference SPFileSync server: opens (or creates and seeds) one library per personal site and team site under
// dataDir and serves them over HTTP. Public API used by `spfs serve` and by every integration test.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../shared/clock';
import { InvalidInputError } from '../shared/errors';
import { type Logger, silentLogger } from '../shared/logger';
import { Authenticator } from './authenticator';
import type { ServerContext } from './context';
import type { ServerFaults } from './faults';
import { DEFAULT_SETTINGS, type ServerSettings, checkSettings } from './data-plane-settings';
import type { GenerateSpec } from './library-generator';
import { LibraryRegistry, type LibrarySpec } from './library-registry';
import { handleRequest } from './request-handler';
import { FaultPlan, type FaultRuleSpec } from './fault-plan';
import { RequestLog } from './request-log';
import { SubscriptionRegistry } from './subscriptions';
import { type TeamSiteConfig, type UserConfig, validateConfig } from './server-config';
import type { LibraryMeta, Store } from './store';

export type { ServerSettings } from './data-plane-settings';
export { type GenerateSpec, generatedContent, generatedNames, parseGenerateSpec } from './library-generator';

export interface ServerOptions {
  /** One folder per library under `libraries/` (SQLite + blobs) and `libraries.json`; created if missing. */
  dataDir: string;
  /** On the first start of the first user's personal library only (empty db), import this local tree. */
  seedDir?: string;
  /** Instead of seedDir: on the first start, generate a synthetic library of this shape for the first user. */
  generate?: GenerateSpec;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** At least one. Each gets `/personal/<name>` with its own library. Names match [A-Za-z0-9._-]{1,64}. */
  users: UserConfig[];
  /** Team sites `/sites/<name>`, each with one library shared by its members. */
  teamSites?: TeamSiteConfig[];
  logger?: Logger;
  /** If set, one JSON line per request: {t, method, path, query, status, user, bytes, range?, ms}. */
  requestLogFile?: string;
  /** For deterministic timestamps in tests. */
  clock?: Clock;
  /** Ids for the first user's new library: list, site, root, then each seeded item in import order. Default randomUUID. */
  idFactory?: () => string;
  /** Quota, policy and data-plane settings of every library (docs/SERVER.md, "Settings"); defaults elsewhere. */
  settings?: Partial<ServerSettings>;
  /** Shorthand for settings.spaceGrantedBytes (wins over it). */
  spaceGrantedBytes?: number;
  /** Shorthand for settings.itemCount (wins over it). */
  itemCount?: number;
  /** Bump every library's restore generation at start: clients' tokens get ResyncNeeded, as after a restore. */
  markRestored?: boolean;
  /** Injected faults (slow downloads, ...); none by default. */
  faults?: ServerFaults;
  /** Scripted faults active from the start (`--fault`); more can be added through the admin API. */
  faultRules?: FaultRuleSpec[];
  /** Enables the loopback-only admin endpoint `/_spfs/admin` with this bearer token (at least 16 characters). */
  adminToken?: string;
  /** Serve HTTPS with this PEM certificate (chain) and private key; origins are then https://. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export interface RunningServer {
  /** http://127.0.0.1:PORT (https:// with `tls`) */
  origin: string;
  /** {origin}/personal/<first user>: what `spfs mount` takes. */
  siteUrl: string;
  /** 32 hex: the list id of the first user's library. */
  listId: string;
  /** Every hosted library: site key (`personal/alice`, `sites/team`), its URL and list id. */
  libraries: { site: string; url: string; listId: string }[];
  /** Stops listening, closes connections and the db. */
  close(): Promise<void>;
}

const MIN_ADMIN_TOKEN_CHARS = 16;
const POLLING_INTERVAL_SECONDS = 120;
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  validateConfig({ users: opts.users, ...(opts.teamSites ? { teamSites: opts.teamSites } : {}) });
  if (opts.seedDir !== undefined && opts.generate !== undefined)
    throw new InvalidInputError('a seed folder and a generated library exclude each other');
  const logger = opts.logger ?? silentLogger();
  const clock = opts.clock ?? systemClock;
  const settings: ServerSettings = {
    ...DEFAULT_SETTINGS,
    ...checkSettings(
      {
        ...opts.settings,
        ...(opts.spaceGrantedBytes !== undefined ? { spaceGrantedBytes: opts.spaceGrantedBytes } : {}),
        ...(opts.itemCount !== undefined ? { itemCount: opts.itemCount } : {}),
      },
      'settings',
    ),
  };
  await fs.promises.mkdir(opts.dataDir, { recursive: true });
  const makeContext = (store: Store, meta: LibraryMeta, site: string): ServerContext => {
    const subscriptions = new SubscriptionRegistry(clock);
    return {
      site,
      store,
      meta,
      clock,
      logger,
      spaceGrantedBytes: settings.spaceGrantedBytes,
      itemCount: settings.itemCount,
      maxFileSizeBytes: settings.maxFileSizeBytes,
      inlineUploadThresholdBytes: settings.inlineUploadThresholdBytes,
      pollingIntervalSeconds: POLLING_INTERVAL_SECONDS,
      dataPlane: settings,
      faults: opts.faults ?? {},
      notifyChange: (except) => subscriptions.notifyChange(except),
      subscriptions,
    };
  };
  const specs: LibrarySpec[] = opts.users.map((u, i) => ({
    site: `personal/${u.name}`,
    members: [u.name],
    ...(i === 0 && opts.seedDir !== undefined ? { seedDir: opts.seedDir } : {}),
    ...(i === 0 && opts.generate !== undefined ? { generate: opts.generate } : {}),
    ...(i === 0 && opts.idFactory !== undefined ? { idFactory: opts.idFactory } : {}),
  }));
  for (const t of opts.teamSites ?? []) {
    specs.push({
      site: `sites/${t.name}`,
      members: t.members,
      ...(t.seedDir !== undefined ? { seedDir: t.seedDir } : {}),
    });
  }
  const libraries = await LibraryRegistry.open({ dataDir: opts.dataDir, clock, logger, makeContext }, specs);
  if (opts.markRestored === true) {
    for (const l of libraries.all()) {
      const generation = l.ctx.store.bumpGeneration();
      logger.warn({ site: l.site, generation }, 'marked as restored: clients will resync');
    }
  }
  let requestLog: RequestLog | undefined;
  try {
    if (opts.requestLogFile !== undefined) requestLog = new RequestLog(opts.requestLogFile);
    const auth = await Authenticator.create(opts.users, clock);
    const scheme = opts.tls ? 'https' : 'http';
    const faults = new FaultPlan();
    for (const f of opts.faultRules ?? []) faults.add(f);
    if (opts.adminToken !== undefined && opts.adminToken.length < MIN_ADMIN_TOKEN_CHARS)
      throw new InvalidInputError(`the admin token needs at least ${MIN_ADMIN_TOKEN_CHARS} characters`);
    const admin = opts.adminToken !== undefined ? { token: opts.adminToken, faults, libraries } : undefined;
    const deps = { auth, libraries, scheme, origin: '', requestLog, clock, logger, faults, admin };
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      handleRequest(deps, req, res).catch((err: unknown) => {
        logger.error({ err }, 'request handler crashed');
        res.destroy();
      });
    };
    const server = opts.tls
      ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest)
      : http.createServer(onRequest);
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
    const origin = `${scheme}://${host}:${addr.port}`;
    deps.origin = origin;
    const first = libraries.all()[0]!;
    logger.info({ origin, libraries: libraries.all().map((l) => l.site) }, 'spfs server listening');
    let closing: Promise<void> | undefined;
    return {
      origin,
      siteUrl: `${origin}/${first.site}`,
      listId: first.ctx.meta.listId,
      libraries: libraries
        .all()
        .map((l) => ({ site: l.site, url: `${origin}/${l.site}`, listId: l.ctx.meta.listId })),
      close: () =>
        (closing ??= (async () => {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          for (const l of libraries.all()) l.ctx.subscriptions.closeAll();
          server.closeAllConnections();
          await closed;
          libraries.close();
          await requestLog?.close();
        })()),
    };
  } catch (err) {
    libraries.close();
    await requestLog?.close();
    throw err;
  }
}
