// The daemon's control socket (`<cache-dir>/control.sock`, mode 0600): newline-delimited JSON requests from
// `spfs status`, `spfs flush`, `spfs unmount`, `spfs pin`, `spfs unpin` and `spfs free`, answered with progress
// lines and one final line.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import type { CacheStats } from '../cache/content-cache';
import type { StoredItem, StoredQuota } from '../cache/metadata-store';
import { errorMessage } from '../shared/errors';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import type { Connectivity, ConnectivityStatus } from '../sync/connectivity';
import type { FreeReport } from '../sync/free-content';
import type { PinManager, PinProgress } from '../sync/pin-manager';
import type { PendingUpload, QueueSummary, Uploader } from '../sync/uploader';

/** How long the mount must have been offline before unmount stops waiting for uploads and detaches anyway. */
export const UNREACHABLE_GIVE_UP_MS = 10_000;
/**
 * Queued uploads an answer lists (failing ones first); the rest are counted. A listing of every entry made a backlog
 * of thousands a megabyte of JSON per `spfs status` and per progress line, built on the daemon's event loop.
 */
export const LISTED_UPLOADS = 100;

export type QueueCounts = Omit<QueueSummary, 'listed'>;

/** A queue summary as a reply's `pending` (the listed part) and `queue` (the counts). */
function queueReply({ listed, ...queue }: QueueSummary): Pick<ControlReply, 'pending' | 'queue'> {
  return { pending: listed, queue };
}

/** The mount's online state, as the control socket reads it (Connectivity is its only owner). */
export type ControlConnectivity = Pick<Connectivity, 'online' | 'offlineForMs' | 'status'>;

/** Whether `spfs unmount` (without --force) stops waiting: the mount has been offline long enough. */
export function unmountGivesUp(c: ControlConnectivity | undefined): boolean {
  return (c?.offlineForMs() ?? 0) >= UNREACHABLE_GIVE_UP_MS;
}

export interface ControlRequest {
  cmd: 'status' | 'flush' | 'unmount' | 'pin' | 'unpin' | 'free';
  /** Library-relative paths ("/Docs/a.txt"). */
  paths?: string[];
  force?: boolean;
  /** pin: answer once pinned instead of once everything is hydrated. */
  noWait?: boolean;
  /** free: unpin pinned paths first instead of keeping them. */
  unpin?: boolean;
}

export interface ControlReply {
  /** Progress line (flush/unmount) or the final answer (`done: true`). */
  done: boolean;
  pending: PendingUpload[];
  /** status, flush, unmount: counts of the whole queue (or the part asked for); `pending` lists at most LISTED_UPLOADS. */
  queue?: QueueCounts;
  /** Final unmount/flush answer: the mount was offline (why uploads stayed pending). */
  unreachable?: boolean;
  /** Online/offline and since when (status only; absent when the daemon has no status provider). */
  connectivity?: ConnectivityStatus;
  /** Which FUSE adapter serves the mount, and what it counted (status only, once mounted). */
  fuse?: FuseStatus;
  /** pin: the pinned documents under the paths (progress lines and the final answer). */
  pin?: PinProgress;
  /** free: what was dropped and what was kept. */
  freed?: FreeReport;
  /** The request could not be served (a path that is not in the library). */
  error?: string;
  /** What the mount holds: items, cache, pins, last sync, quota (status only, once mounted). */
  mount?: MountFacts;
}

/** Counts read from their owners' SQLite tables when `spfs status` asks (no state of its own). */
export interface MountFacts {
  itemsKnown: number;
  cache: CacheStats;
  pinnedFiles: number;
  /** When the last sync pass completed in this daemon (ms since the epoch); absent before the first. */
  lastSyncMs?: number;
  /** The server's quota as its root folder last reported it. */
  quota?: StoredQuota;
}

/** What the pin, unpin and free commands act on (the daemon's pin manager, store and content cache). */
export interface ContentControl {
  itemAt(path: string): Promise<StoredItem | undefined>;
  pins: Pick<PinManager, 'setPinned' | 'progress'>;
  free(roots: readonly ItemId[], unpin: boolean): FreeReport;
}

/**
 * Whether `spfs pin` stops waiting: every document is here, or what is left failed (the pin manager retries it in
 * the background). While offline it waits: the downloads resume once the server is back.
 */
export function pinWaitEnds(p: PinProgress): boolean {
  return p.filesDone === p.files || (!p.offline && p.filesDone + p.failed.length === p.files);
}

/** How often `spfs pin` hears how far the hydration is. */
const PIN_PROGRESS_MS = 500;

export interface FuseStatus {
  adapter: string;
  /** How long the kernel keeps names and attributes (s). */
  kernelCacheS: number;
  /** Requests served per operation since mount (libfuse3 only). */
  requests?: Record<string, number>;
}

export interface ControlSocket {
  /** Once mounted: what `spfs status` says of the FUSE side. */
  describeFuse(provider: () => FuseStatus): void;
  /** Once mounted: what `spfs status` says of the mount's content. */
  describeMount(provider: () => MountFacts): void;
  close(): Promise<void>;
}

export function startControlSocket(
  path: string,
  uploader: Uploader,
  logger: Logger,
  connectivity?: ControlConnectivity,
  content?: ContentControl,
): ControlSocket {
  rmSync(path, { force: true });
  const server = createServer((sock) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      // A request that fails still gets an answer naming why: a socket closed without one tells the user nothing.
      handle(line, sock).catch((err: unknown) => {
        logger.warn({ err }, 'control request failed');
        send(sock, { done: true, pending: [], error: `the daemon failed: ${errorMessage(err)}` });
        sock.end();
      });
    });
    sock.on('error', () => undefined);
  });
  let fuse: (() => FuseStatus) | undefined;
  let mount: (() => MountFacts) | undefined;
  const send = (sock: Socket, reply: ControlReply): void => {
    if (!sock.destroyed) sock.write(`${JSON.stringify(reply)}\n`);
  };
  const handle = async (line: string, sock: Socket): Promise<void> => {
    const req = JSON.parse(line) as ControlRequest;
    if (req.cmd === 'status') {
      const status: ConnectivityStatus | undefined = connectivity?.status();
      const f = fuse?.();
      const m = mount?.();
      send(sock, {
        done: true,
        ...queueReply(uploader.summary(LISTED_UPLOADS)),
        ...(status ? { connectivity: status } : {}),
        ...(f ? { fuse: f } : {}),
        ...(m ? { mount: m } : {}),
      });
      sock.end();
      return;
    }
    if (req.cmd === 'pin' || req.cmd === 'unpin' || req.cmd === 'free') {
      await handleContent(req, sock);
      sock.end();
      return;
    }
    const giveUp = (): boolean => {
      if (req.cmd !== 'unmount') return sock.destroyed;
      return req.force === true || unmountGivesUp(connectivity);
    };
    const left = await uploader.drain(
      req.paths,
      (p) => send(sock, { done: false, ...queueReply(p) }),
      giveUp,
      LISTED_UPLOADS,
    );
    send(sock, { done: true, ...queueReply(left), unreachable: connectivity?.online === false });
    sock.end();
    if (req.cmd === 'unmount') {
      logger.info({ pending: left.files }, 'unmount requested');
      setTimeout(() => process.kill(process.pid, 'SIGTERM'), 50);
    }
  };
  const handleContent = async (req: ControlRequest, sock: Socket): Promise<void> => {
    if (content === undefined) return send(sock, { done: true, pending: [], error: 'not supported' });
    const paths = req.paths ?? [];
    const roots: ItemId[] = [];
    for (const p of paths) {
      const item = await content.itemAt(p);
      if (item === undefined)
        return send(sock, { done: true, pending: [], error: `no such file or folder: ${p}` });
      roots.push(item.id);
    }
    if (req.cmd === 'free')
      return send(sock, { done: true, pending: [], freed: content.free(roots, req.unpin === true) });
    const pinned = req.cmd === 'pin';
    for (const id of roots) content.pins.setPinned(id, pinned);
    if (!pinned || req.noWait === true)
      return send(sock, { done: true, pending: [], pin: content.pins.progress(roots) });
    for (;;) {
      const p = content.pins.progress(roots);
      if (pinWaitEnds(p) || sock.destroyed) return send(sock, { done: true, pending: [], pin: p });
      send(sock, { done: false, pending: [], pin: p });
      await new Promise((r) => setTimeout(r, PIN_PROGRESS_MS));
    }
  };
  server.listen(path, () => chmodSync(path, 0o600));
  return {
    describeFuse: (provider) => {
      fuse = provider;
    },
    describeMount: (provider) => {
      mount = provider;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        rmSync(path, { force: true });
      }),
  };
}
