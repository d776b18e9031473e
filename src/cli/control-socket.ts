// The daemon's control socket (`<cache-dir>/control.sock`, mode 0600): newline-delimited JSON requests from
// `spfs status`, `spfs flush` and `spfs unmount`, answered with progress lines and one final line.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import type { CacheStats } from '../cache/content-cache';
import type { StoredQuota } from '../cache/metadata-store';
import type { Logger } from '../shared/logger';
import type { Connectivity, ConnectivityStatus } from '../sync/connectivity';
import type { PendingUpload, Uploader } from '../sync/uploader';

/** How long the mount must have been offline before unmount stops waiting for uploads and detaches anyway. */
export const UNREACHABLE_GIVE_UP_MS = 10_000;

/** The mount's online state, as the control socket reads it (Connectivity is its only owner). */
export type ControlConnectivity = Pick<Connectivity, 'online' | 'offlineForMs' | 'status'>;

/** Whether `spfs unmount` (without --force) stops waiting: the mount has been offline long enough. */
export function unmountGivesUp(c: ControlConnectivity | undefined): boolean {
  return (c?.offlineForMs() ?? 0) >= UNREACHABLE_GIVE_UP_MS;
}

export interface ControlRequest {
  cmd: 'status' | 'flush' | 'unmount';
  paths?: string[];
  force?: boolean;
}

export interface ControlReply {
  /** Progress line (flush/unmount) or the final answer (`done: true`). */
  done: boolean;
  pending: PendingUpload[];
  /** Final unmount/flush answer: the mount was offline (why uploads stayed pending). */
  unreachable?: boolean;
  /** Online/offline and since when (status only; absent when the daemon has no status provider). */
  connectivity?: ConnectivityStatus;
  /** Which FUSE adapter serves the mount, and what it counted (status only, once mounted). */
  fuse?: FuseStatus;
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
      handle(line, sock).catch((err: unknown) => {
        logger.warn({ err }, 'control request failed');
        sock.destroy();
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
        pending: uploader.pending(),
        ...(status ? { connectivity: status } : {}),
        ...(f ? { fuse: f } : {}),
        ...(m ? { mount: m } : {}),
      });
      sock.end();
      return;
    }
    const giveUp = (): boolean => {
      if (req.cmd !== 'unmount') return sock.destroyed;
      return req.force === true || unmountGivesUp(connectivity);
    };
    const left = await uploader.drain(req.paths, (p) => send(sock, { done: false, pending: p }), giveUp);
    send(sock, { done: true, pending: left, unreachable: connectivity?.online === false });
    sock.end();
    if (req.cmd === 'unmount') {
      logger.info({ pending: left.length }, 'unmount requested');
      setTimeout(() => process.kill(process.pid, 'SIGTERM'), 50);
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
