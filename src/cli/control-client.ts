// `spfs status|flush|unmount|pin|unpin|free` through the daemon's control socket: sends one request, prints
// progress, and turns the final answer into an exit code (non-zero while something is still pending or failed).
import { existsSync, realpathSync } from 'node:fs';
import { connect } from 'node:net';
import { isAbsolute, join, relative, resolve } from 'node:path';
import formatBytes from 'bytes';
import type { FreeReport } from '../sync/free-content';
import type { PinProgress } from '../sync/pin-manager';
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

/** Library-relative paths ("/Docs/a.txt") per mount, for commands that name files; a path outside every mount is
 * a usage error. */
function pathsByMount(paths: readonly string[]): Map<string, { sock: string; rel: string[] }> {
  const out = new Map<string, { sock: string; rel: string[] }>();
  for (const p of paths) {
    const abs = resolve(p);
    const mount = findMount(abs);
    if (readMountRecord(mount) === undefined) throw new UsageError(`${p} is not inside an spfs mount`);
    const { sock, mountpoint } = socketFor(mount);
    const r = relative(mountpoint, abs);
    if (r.startsWith('..') || isAbsolute(r)) throw new UsageError(`${p} is not inside an spfs mount`);
    const entry = out.get(mountpoint) ?? { sock, rel: [] };
    entry.rel.push(`/${r}`);
    out.set(mountpoint, entry);
  }
  return out;
}

/**
 * Where `spfs pin` stands, on stderr: files and bytes done of the total, rate and time left. The one place pin
 * progress is printed, so a progress library can take it over.
 */
export function reportPinProgress(p: PinProgress, elapsedMs: number, startBytes: number): void {
  const rate = elapsedMs > 0 ? ((p.bytesDone - startBytes) * 1000) / elapsedMs : 0;
  const left = rate > 0 ? Math.ceil((p.bytes - p.bytesDone) / rate) : undefined;
  const parts = [
    `${p.filesDone}/${p.files} files`,
    `${formatBytes(p.bytesDone)}/${formatBytes(p.bytes)}`,
    rate > 0 ? `${formatBytes(Math.round(rate))}/s` : undefined,
    left !== undefined ? `${left} s left` : undefined,
    p.offline ? 'offline: waiting for the server' : undefined,
  ];
  process.stderr.write(`spfs: hydrating ${parts.filter((x) => x !== undefined).join(', ')}\n`);
}

export async function pinCommand(paths: string[], noWait: boolean): Promise<number> {
  let code: number = EXIT.ok;
  for (const { sock, rel } of pathsByMount(paths).values()) {
    const started = Date.now();
    let startBytes: number | undefined;
    let last = '';
    const r = await ask(sock, { cmd: 'pin', paths: rel, ...(noWait ? { noWait: true } : {}) }, (line) => {
      if (line.pin === undefined) return;
      startBytes ??= line.pin.bytesDone;
      // The daemon reports twice a second: a line when something moved.
      const now = `${line.pin.filesDone} ${line.pin.bytesDone} ${line.pin.offline}`;
      if (now === last) return;
      last = now;
      reportPinProgress(line.pin, Date.now() - started, startBytes);
    });
    if (r.error !== undefined) throw new UsageError(r.error);
    const p = r.pin;
    if (p === undefined) continue;
    if (noWait) {
      process.stdout.write(
        `spfs: pinned ${rel.join(', ')}: ${p.files} files, ${formatBytes(p.bytes)}; hydrating in the background\n`,
      );
      continue;
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `spfs: pinned ${rel.join(', ')}: ${p.filesDone}/${p.files} files (${formatBytes(p.bytesDone)}) on this device, ${secs} s\n`,
    );
    if (p.failed.length > 0) {
      code = EXIT.failure;
      process.stdout.write(`spfs: ${p.failed.length} files not hydrated yet (retried in the background):\n`);
      for (const f of p.failed) process.stdout.write(`  ${f.path} — ${f.error}\n`);
    }
  }
  return code;
}

export async function unpinCommand(paths: string[]): Promise<number> {
  for (const { sock, rel } of pathsByMount(paths).values()) {
    const r = await ask(sock, { cmd: 'unpin', paths: rel }, () => undefined);
    if (r.error !== undefined) throw new UsageError(r.error);
    process.stdout.write(`spfs: unpinned ${rel.join(', ')}: cached content stays until space is needed\n`);
  }
  return EXIT.ok;
}

export async function freeCommand(paths: string[], unpin: boolean): Promise<number> {
  for (const { sock, rel } of pathsByMount(paths).values()) {
    const r = await ask(
      sock,
      { cmd: 'free', paths: rel, ...(unpin ? { unpin: true } : {}) },
      () => undefined,
    );
    if (r.error !== undefined) throw new UsageError(r.error);
    if (r.freed !== undefined) printFreed(r.freed);
  }
  return EXIT.ok;
}

/** Pinned files kept by `free` are named up to this many (a pinned folder may hold thousands). */
const PINNED_LISTED = 10;

function printFreed(f: FreeReport): void {
  process.stdout.write(`spfs: freed ${f.files} files, ${formatBytes(f.bytes)} (${f.bytes} bytes)\n`);
  const pinned = f.kept.filter((k) => k.reason === 'pinned');
  const others = f.kept.filter((k) => k.reason !== 'pinned');
  if (pinned.length > 0) {
    const bytes = pinned.reduce((n, k) => n + k.bytes, 0);
    process.stdout.write(
      `spfs: kept ${pinned.length} pinned files, ${formatBytes(bytes)} (spfs free --unpin frees them):\n`,
    );
    for (const k of pinned.slice(0, PINNED_LISTED)) process.stdout.write(`  ${k.path}\n`);
    if (pinned.length > PINNED_LISTED)
      process.stdout.write(`  … and ${pinned.length - PINNED_LISTED} more\n`);
  }
  if (others.length > 0) process.stdout.write(`spfs: kept ${others.length} files in use:\n`);
  for (const k of others) process.stdout.write(`  ${k.path} (${k.reason})\n`);
}
