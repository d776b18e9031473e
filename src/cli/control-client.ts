// `spfs status|flush|unmount` through the daemon's control socket: sends one request, prints progress, and turns the
// final answer into an exit code (non-zero while something is still pending).
import { existsSync, realpathSync } from 'node:fs';
import { connect } from 'node:net';
import { join, relative, resolve } from 'node:path';
import type { ConnectivityStatus } from '../sync/connectivity';
import type { PendingUpload } from '../sync/uploader';
import type { ControlReply, ControlRequest, FuseStatus } from './control-socket';
import { readMountRecord } from './mount-registry';
import { EXIT, UsageError } from './usage-error';

function socketFor(dir: string): { sock: string; mountpoint: string } {
  let mountpoint = resolve(dir);
  try {
    mountpoint = realpathSync(mountpoint);
  } catch {
    // a dead mount can't be resolved
  }
  const rec = readMountRecord(mountpoint);
  const sock = rec === undefined ? undefined : join(rec.cacheDir, 'control.sock');
  if (sock === undefined || !existsSync(sock))
    throw new UsageError(`${mountpoint} is not an spfs mount`, EXIT.failure);
  return { sock, mountpoint };
}

/** Sends a request; resolves with the final reply (progress lines go to `onProgress`). */
export function ask(
  sock: string,
  req: ControlRequest,
  onProgress: (r: ControlReply) => void,
): Promise<ControlReply> {
  return new Promise((res, rej) => {
    const c = connect(sock);
    let buf = '';
    c.on('connect', () => c.write(`${JSON.stringify(req)}\n`));
    c.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const r = JSON.parse(buf.slice(0, nl)) as ControlReply;
        buf = buf.slice(nl + 1);
        if (r.done) {
          res(r);
          c.end();
        } else onProgress(r);
      }
    });
    c.on('error', rej);
    c.on('close', () => rej(new UsageError('the daemon closed the control connection', EXIT.failure)));
  });
}

function describe(p: PendingUpload): string {
  const why = p.failure === undefined ? '' : ` — ${p.permanent ? 'refused' : 'retrying'}: ${p.failure}`;
  return `  ${p.op} ${p.path} (${p.bytes} bytes)${why}`;
}

/** `server: online since <ISO time>`, or `server: offline since <ISO time> (last error: …)`. */
export function describeConnectivity(c: ConnectivityStatus): string {
  const since = new Date(c.sinceMs).toISOString();
  const why = c.lastError === undefined ? '' : ` (last error: ${c.lastError})`;
  return `server: ${c.state} since ${since}${why}`;
}

function describeFuse(f: FuseStatus): string {
  const head = `fuse: ${f.adapter}, kernel caches names and attributes for ${f.kernelCacheS} s`;
  if (f.requests === undefined) return head;
  const served = Object.entries(f.requests)
    .filter(([, n]) => n > 0)
    .map(([op, n]) => `${op} ${n}`);
  return `${head}\nfuse requests: ${served.join(', ') || 'none'}`;
}

function summary(left: readonly PendingUpload[]): string {
  const bytes = left.reduce((n, p) => n + p.bytes, 0);
  return `${left.length} files, ${bytes} bytes`;
}

export async function statusCommand(dir: string): Promise<number> {
  const { sock } = socketFor(dir);
  const r = await ask(sock, { cmd: 'status' }, () => undefined);
  const failed = r.pending.filter((p) => p.failure !== undefined);
  if (r.connectivity !== undefined) process.stdout.write(`${describeConnectivity(r.connectivity)}\n`);
  if (r.fuse !== undefined) process.stdout.write(`${describeFuse(r.fuse)}\n`);
  process.stdout.write(`pending uploads: ${summary(r.pending)}\n`);
  if (failed.length > 0) process.stdout.write(`failures: ${failed.length}\n`);
  for (const p of r.pending) process.stdout.write(`${describe(p)}\n`);
  return EXIT.ok;
}

export async function flushCommand(paths: string[]): Promise<number> {
  const first = paths[0] ?? '.';
  const { sock, mountpoint } = socketFor(findMount(first));
  const rel = paths.map((p) => `/${relative(mountpoint, resolve(p))}`.replace(/\/$/, '') || '/');
  const only = rel.filter((p) => p !== '/');
  const req: ControlRequest = { cmd: 'flush', ...(only.length > 0 ? { paths: only } : {}) };
  let last = '';
  const r = await ask(sock, req, (p) => {
    const line = p.pending.length > 0 ? `spfs: waiting for ${summary(p.pending)}\n` : '';
    if (line !== '' && line !== last) process.stderr.write(line);
    last = line;
  });
  if (r.pending.length === 0) {
    process.stdout.write('spfs: everything is on the server\n');
    return EXIT.ok;
  }
  process.stdout.write(`spfs: still pending: ${summary(r.pending)}\n`);
  for (const p of r.pending) process.stdout.write(`${describe(p)}\n`);
  return EXIT.failure;
}

/** Drains the journal (or not, with `force`), then the daemon detaches. Returns what stayed pending. */
export async function unmountViaControl(dir: string, force: boolean): Promise<PendingUpload[] | undefined> {
  let found: { sock: string };
  try {
    found = socketFor(dir);
  } catch {
    return undefined;
  }
  // Progress only when something is pending, and only when it changed (the daemon reports twice a second).
  let last = '';
  const r = await ask(found.sock, { cmd: 'unmount', force }, (p) => {
    const line = p.pending.length > 0 ? `spfs: uploading, ${summary(p.pending)} left\n` : '';
    if (line !== '' && line !== last) process.stderr.write(line);
    last = line;
  });
  if (r.pending.length > 0) {
    process.stderr.write(
      `spfs: ${summary(r.pending)} not uploaded${r.unreachable ? ' (server unreachable)' : ''}; ` +
        'they are kept and uploaded at the next mount\n',
    );
    for (const p of r.pending) process.stderr.write(`${describe(p)}\n`);
  }
  return r.pending;
}

/** The mountpoint a path lies under (the path itself when it is one). */
function findMount(p: string): string {
  let cur = resolve(p);
  for (;;) {
    if (readMountRecord(cur) !== undefined) return cur;
    const up = resolve(cur, '..');
    if (up === cur) return resolve(p);
    cur = up;
  }
}
