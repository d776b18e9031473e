// The mount daemon: connects, syncs the tree, mounts, and serves until it is told to stop (signal, `spfs unmount`,
// or the mount disappearing). Reports "ready" or a failure to the parent over a pipe when daemonised.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContentCache } from '../cache/content-cache';
import { ListingState } from '../cache/listing-state';
import { MetadataStore } from '../cache/metadata-store';
import { mountFilesystem, type AdapterChoice, type MountedFilesystem } from '../fuse/mount';
import { libraryWebUrl } from '../protocol/discover-library';
import type { SpClient, SpClientOptions } from '../protocol/sp-client';
import { systemClock } from '../shared/clock';
import { errorMessage } from '../shared/errors';
import { closeLogger, createLogger, type Logger } from '../shared/logger';
import { FolderLister } from '../sync/folder-lister';
import { ChangeFeed } from '../sync/change-feed';
import { Connectivity } from '../sync/connectivity';
import { Hydrator, type HydrateMode } from '../sync/hydrator';
import { DEFAULT_PREFETCH_FILES, PREFETCH_MAX_FILE_BYTES, SiblingPrefetch } from '../sync/sibling-prefetch';
import { PinManager } from '../sync/pin-manager';
import { TreeSync, type SyncProgress, type SyncResult } from '../sync/tree-sync';
import { ForegroundActivity } from '../sync/foreground-activity';
import type { MountSettings } from './options-table';
import { startWritePath, type WritePath } from './write-path';
import { lockCacheDir } from './cache-lock';
import { ensurePrivateDir, PRIVATE_UMASK } from './private-dir';
import type { Credentials } from './credentials';
import { describeConnectError } from './describe-error';
import { connectLibrary } from './library-connect';
import { removeMountRecord, writeMountRecord } from './mount-registry';
import { isMounted } from './system-checks';
import { EXIT, UsageError } from './usage-error';

const MOUNT_WATCH_INTERVAL_MS = 2000;
/** How long a first mount waits for its full pass before serving with on-demand folder listings. */
const FIRST_PASS_WAIT_MS = 3000;
const DEFAULT_CACHE_MAX_BYTES = 10 * 1024 ** 3;

/** Who may do what on the mount, as the options table parses it. */
export type MountAccess = Pick<
  MountSettings,
  'readOnly' | 'allowOther' | 'defaultPermissions' | 'uid' | 'gid' | 'umask'
>;

export interface DaemonOptions {
  url: string;
  mountpoint: string;
  cacheDir: string;
  credentials: Credentials | undefined;
  /** Auth/TLS options for the client (src/cli/auth-options.ts); when given, `credentials` is not used. */
  client?: Pick<SpClientOptions, 'credentials' | 'auth' | 'ntlm' | 'tls'>;
  cacheMaxBytes?: number;
  cacheMinFreeBytes?: number;
  hydrate?: HydrateMode;
  /** `--prefetch-files`: documents fetched ahead when a folder is read file after file (0: off). */
  prefetchFiles?: number;
  logLevel?: string;
  /** Log to this file instead of <cache-dir>/spfs.log. */
  logFile?: string;
  /** Also log to the terminal (`--foreground` run by hand): readable lines on a TTY, JSON otherwise. */
  logToTerminal?: boolean;
  debugFuse?: boolean;
  /** `--fuse auto|3|2`: which FUSE adapter serves the mount. */
  fuse?: AdapterChoice;
  /** Change-enumeration poll interval when no notification channel works (--poll-interval). Default 120 s. */
  pollIntervalS?: number;
  /** Settle delay before a change is uploaded (--write-back), ms. Default 3000. */
  writeBackMs?: number;
  /** Before "ready": what a first mount's crawl has found so far (shown by `spfs mount` on a terminal). */
  progress?: (p: SyncProgress) => void;
  /** Who may do what on the mount: `ro`, `allow_other`, `default_permissions`, the owner and mode shown. */
  access?: MountAccess;
  /** Called once the mount serves (or with an error before it does). */
  notify: (msg: { ready: true; items: number } | { ready: false; error: string; exitCode: number }) => void;
}

/** Runs until stopped; resolves with the process exit code. */
export async function runMountDaemon(o: DaemonOptions): Promise<number> {
  // Everything the daemon creates is its user's alone: SQLite's database, WAL and shm files (made 0644 by SQLite
  // under the usual umask), the lock folder, cache and local copies, logs.
  process.umask(PRIVATE_UMASK);
  // A daemon's stdout and stderr are <cache-dir>/daemon.out: on a full cache disk a write there (a Node warning)
  // fails, and an unhandled 'error' on them would end the process. What cannot be written is dropped.
  for (const out of [process.stdout, process.stderr]) out.on('error', () => undefined);
  ensurePrivateDir(o.cacheDir, 'cache folder');
  const logger = createLogger({
    file: o.logFile ?? join(o.cacheDir, 'spfs.log'),
    level: o.logLevel ?? 'info',
    ...(o.logToTerminal ? { terminal: true } : {}),
  });
  let release: (() => Promise<void>) | undefined;
  let client: SpClient | undefined;
  let store: MetadataStore | undefined;
  let mounted: MountedFilesystem | undefined;
  let hydrator: Hydrator | undefined;
  let prefetch: SiblingPrefetch | undefined;
  let pins: PinManager | undefined;
  let feed: ChangeFeed | undefined;
  let writePath: WritePath | undefined;
  let catchUp: Promise<SyncResult> | undefined;
  let listing: ListingState | undefined;
  try {
    release = await lockCacheDir(o.cacheDir);
    // Made first: every request of the client reports its failures here, the one online/offline state.
    const connectivity = new Connectivity(systemClock, logger);
    // Offline at remount: the client is built from the saved library and the stored tree is served.
    const connected = await connectLibrary(
      {
        url: o.url,
        ...(o.client ?? (o.credentials ? { credentials: o.credentials } : {})),
        logger,
        reachability: connectivity,
      },
      o.cacheDir,
      existsSync(join(o.cacheDir, 'metadata.db')),
    );
    client = connected.client;
    if (connected.offlineCause !== undefined) connectivity.reportFailure(connected.offlineCause);
    const dbFile = join(o.cacheDir, 'metadata.db');
    store = MetadataStore.open(dbFile, { logger });
    listing = ListingState.open(dbFile);
    let rootStored: () => void = () => undefined;
    const rootReady = new Promise<void>((r) => (rootStored = r));
    const activity = new ForegroundActivity();
    let serving = false;
    const sync = new TreeSync({
      onProgress: (p) => {
        if (!serving) o.progress?.(p);
      },
      api: client,
      store,
      logger,
      activity,
      lookup: client,
      ownIdentity: client.customIdentity,
      localChanges: store.journal,
      onRootStored: () => rootStored(),
    });
    // A library mounted before mounts at once from the stored tree and catches up with the change feed in the
    // background. A first mount serves as soon as the root is stored: the folder crawl and the FullData pass go on
    // in the background, and a folder whose documents are not known yet is listed on demand (FolderLister).
    const known = store.getSyncState()?.token != null && store.rootId() !== undefined;
    catchUp = sync.initialSync();
    // Its success is TreeSync's "sync pass done" line.
    catchUp.catch((err: unknown) =>
      logger.warn({ err }, 'catching up with the library failed; serving the stored tree'),
    );
    if (!known) {
      await Promise.race([rootReady, catchUp]);
      // A small or medium library finishes its first pass within a few seconds: wait for it, so the first `ls -lR`
      // or `find` reads a complete tree instead of listing folder after folder on demand. A large one serves now.
      await Promise.race([catchUp.catch(() => undefined), sleep(FIRST_PASS_WAIT_MS)]);
    }
    const result = { items: store.countItems(), mode: known ? 'stored' : 'first' };
    const cache = await ContentCache.open({
      dir: join(o.cacheDir, 'content'),
      store,
      maxBytes: o.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES,
      minFreeBytes: o.cacheMinFreeBytes ?? 0,
      logger,
    });
    hydrator = new Hydrator({
      api: client,
      store,
      cache,
      logger,
      hydrate: o.hydrate ?? 'ranges',
      connectivity,
      // The file changed since the last sync (another machine saved it): sync now; an open waits for that sync and
      // answers ESTALE, so the kernel looks the name up again and opens the new version.
      versionChanged: () => feed?.syncNow(),
    });
    prefetch = new SiblingPrefetch({
      store,
      cache,
      hydrator,
      logger,
      maxAhead: o.prefetchFiles ?? DEFAULT_PREFETCH_FILES,
      maxFileBytes: PREFETCH_MAX_FILE_BYTES,
      connectivity,
    });
    // Pinned files are hydrated in the background, after foreground reads, and wait while offline.
    pins = new PinManager({ store, hydrator, logger, connectivity, activity });
    writePath = startWritePath({
      cacheDir: o.cacheDir,
      store,
      cache,
      hydrator,
      api: client,
      logger,
      clock: systemClock,
      activity,
      lister: new FolderLister({ api: client, store, state: listing, logger }),
      storeVersion: listing.version.bind(listing),
      connectivity,
      pins,
      prefetch,
      ...(o.writeBackMs !== undefined ? { writeBackMs: o.writeBackMs } : {}),
      ...(o.access !== undefined
        ? {
            attributes: {
              uid: o.access.uid,
              gid: o.access.gid,
              umask: o.access.umask,
              readOnly: o.access.readOnly,
            },
          }
        : {}),
      libraryWebUrl: libraryWebUrl(o.url, client.library.siteUrl),
    });
    mounted = await mountFilesystem(o.mountpoint, writePath.fs, logger, {
      debug: o.debugFuse ?? false,
      adapter: o.fuse ?? 'auto',
      kernelOptions: {
        readOnly: o.access?.readOnly ?? false,
        allowOther: o.access?.allowOther ?? false,
        defaultPermissions: o.access?.defaultPermissions ?? false,
      },
    });
    const m = mounted;
    const p = pins;
    // Remote changes (and the daemon's own conflict copies) reach the kernel's caches by inode, not by timeout,
    // and the pin manager, which hydrates a pinned item's new version and new items in pinned folders.
    store.onItemsChanged((ids, folders) => {
      m.invalidate(ids, folders);
      p.itemsChanged(ids);
    });
    p.start(); // after the listener: nothing committed from here on is missed
    writePath.control?.describeFuse(() => {
      const requests = m.requestCounts();
      return { adapter: m.adapter, kernelCacheS: m.kernelCacheS, ...(requests ? { requests } : {}) };
    });
    const facts = { store, cache, sync };
    writePath.control?.describeMount(() => {
      const lastSyncMs = facts.sync.lastSuccessfulSync();
      const quota = facts.store.getSyncState()?.quota;
      return {
        itemsKnown: facts.store.countItems(),
        cache: facts.cache.stats(),
        pinnedFiles: facts.store.pins.count(),
        ...(lastSyncMs !== undefined ? { lastSyncMs } : {}),
        ...(quota !== undefined ? { quota } : {}),
      };
    });
    writeMountRecord({
      pid: process.pid,
      mountpoint: o.mountpoint,
      cacheDir: o.cacheDir,
      url: o.url,
      startedMs: Date.now(),
    });
    logger.info({ mountpoint: o.mountpoint, items: result.items, mode: result.mode }, 'serving');
    // Remote changes: notifications (or polling) → debounced incremental sync → cached bytes of old versions dropped.
    feed = new ChangeFeed({
      api: client,
      sync: () => sync.sync(),
      connectivity,
      clock: systemClock,
      logger,
      ...(o.pollIntervalS !== undefined ? { pollIntervalMs: o.pollIntervalS * 1000 } : {}),
      afterSync: () => void cache.dropStale(),
    });
    feed.start();
    serving = true;
    o.notify({ ready: true, items: result.items });
    await waitForStop(o.mountpoint);
    logger.info('stopping');
    return EXIT.ok;
  } catch (err) {
    const { message, exitCode } = describeFailure(err, o.url);
    logger.error({ err }, message);
    o.notify({ ready: false, error: message, exitCode });
    return exitCode;
  } finally {
    if (mounted && isMounted(o.mountpoint))
      await mounted.unmount().catch((e: unknown) => logger.warn({ err: e }, 'unmount failed'));
    removeMountRecord(o.mountpoint, process.pid);
    await writePath?.stop().catch((e: unknown) => logger.warn({ err: e }, 'stopping the uploader failed'));
    await pins?.stop().catch(() => undefined);
    await feed?.stop().catch(() => undefined);
    prefetch?.close();
    await hydrator?.close().catch(() => undefined);
    await client?.close().catch(() => undefined);
    await catchUp?.catch(() => undefined); // a background catch-up must not outlive the store
    listing?.close();
    store?.close();
    await release?.().catch(() => undefined);
    await closeLogger(logger);
  }
}

function describeFailure(err: unknown, url: string): { message: string; exitCode: number } {
  if (err instanceof UsageError) return { message: err.message, exitCode: err.exitCode };
  const described = describeConnectError(err, url);
  if (described) return described;
  return { message: `mount failed: ${errorMessage(err)}`, exitCode: EXIT.failure };
}

function ignoreWhileStopping(): void {
  // already stopping
}

/** Resolves on SIGINT/SIGTERM or when the mount vanishes (e.g. `fusermount -u` by hand). */
function waitForStop(mountpoint: string): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (!isMounted(mountpoint)) done();
    }, MOUNT_WATCH_INTERVAL_MS);
    const done = (): void => {
      clearInterval(timer);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      // Keep catching the signals while shutting down: a second SIGTERM (`spfs unmount` sends one after the
      // control socket's) must not kill the process before it has unmounted and released the cache lock.
      process.on('SIGINT', ignoreWhileStopping);
      process.on('SIGTERM', ignoreWhileStopping);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

export type { Logger };
