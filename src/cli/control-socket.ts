// The daemon's control socket (`<cache-dir>/control.sock`, mode 0600): newline-delimited JSON requests from
// `spfs status`, `spfs flush` and `spfs unmount`, answered with progress lines and one final line.
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import type { Logger } from '../shared/logger';
import type { ConnectivityStatus } from '../sync/connectivity';
import type { PendingUpload, Uploader } from '../sync/uploader';

/** How long unmount keeps trying while the server cannot be reached before it detaches anyway. */
export const UNREACHABLE_GIVE_UP_MS = 10_000;

export interface ControlRequest {
  cmd: 'status' | 'flush' | 'unmount';
  paths?: string[];
  force?: boolean;
}

export interface ControlReply {
  /** Progress line (flush/unmount) or the final answer (`done: true`). */
  done: boolean;
  pending: PendingUpload[];
  unreachable?: boolean;
  /** Online/offline and since when (status only; absent when the daemon has no status provider). */
  connectivity?: ConnectivityStatus;
}

export interface ControlSocket {
  close(): Promise<void>;
}

export function startControlSocket(
  path: string,
  uploader: Uploader,
  logger: Logger,
  status?: () => ConnectivityStatus,
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
  const send = (sock: Socket, reply: ControlReply): void => {
    if (!sock.destroyed) sock.write(`${JSON.stringify(reply)}\n`);
  };
  const handle = async (line: string, sock: Socket): Promise<void> => {
    const req = JSON.parse(line) as ControlRequest;
    if (req.cmd === 'status') {
      const connectivity = status?.();
      send(sock, { done: true, pending: uploader.pending(), ...(connectivity ? { connectivity } : {}) });
      sock.end();
      return;
    }
    let unreachableSince: number | undefined;
    const giveUp = (): boolean => {
      if (req.cmd !== 'unmount') return sock.destroyed;
      if (req.force === true) return true;
      if (!uploader.unreachable) unreachableSince = undefined;
      else unreachableSince ??= Date.now();
      return unreachableSince !== undefined && Date.now() - unreachableSince > UNREACHABLE_GIVE_UP_MS;
    };
    const left = await uploader.drain(req.paths, (p) => send(sock, { done: false, pending: p }), giveUp);
    send(sock, { done: true, pending: left, unreachable: uploader.unreachable });
    sock.end();
    if (req.cmd === 'unmount') {
      logger.info({ pending: left.length }, 'unmount requested');
      setTimeout(() => process.kill(process.pid, 'SIGTERM'), 50);
    }
  };
  server.listen(path, () => chmodSync(path, 0o600));
  return {
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        rmSync(path, { force: true });
      }),
  };
}
