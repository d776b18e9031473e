// `spfs status|flush|unmount|pin|unpin|free` through the daemon's control socket: sends one request, prints
// progress, and turns the final answer into an exit code (non-zero while something is still pending or failed).
import { existsSync, realpathSync } from 'node:fs';
import { connect } from 'node:net';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { FreeReport } from '../sync/free-content';
import type { PendingUpload } from '../sync/uploader';
import type { ControlReply, ControlRequest } from './control-socket';
import { listMountRecords, readMountRecord, type MountRecord } from './mount-registry';
import { formatBytes, mountStatus, statusDetails, statusLine, type MountStatus } from './mount-status';
import { isAlive } from './process-alive';
import { startProgress, type Progress } from './progress';
import { isMounted } from './system-checks';
import { EXIT, UsageError } from './usage-error';

/**
 * The mountpoint DIR names. A mountpoint is found without stat-ing it (only its parent folder is resolved): that
 * would go to its daemon, and one that does not answer would leave this command waiting in the kernel, where no
 * timeout reaches it (`spfs status` and `spfs unmount` are how one finds and clears such a daemon). Any other path
 * is resolved whole (a symbolic link to a mountpoint).
 */
export function mountpointOf(dir: string): string {
  const abs = resolve(dir);
  let direct = abs;
  try {
    direct = join(realpathSync(dirname(abs)), basename(abs));
  } catch {
    // the parent can't be resolved either: try the whole path below
  }
  if (readMountRecord(direct) !== undefined) return direct;
  try {
    return realpathSync(abs);
  } catch {
    return abs; // a dead mount can't be resolved (ENOTCONN)
  }
}

function socketFor(dir: string): { sock: string; mountpoint: string } {
  const mountpoint = mountpointOf(dir);
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

/** What a reply says is left: the daemon's counts, or (a daemon without them) its whole list. */
function leftOf(r: ControlReply): { files: number; bytes: number } {
  return r.queue ?? { files: r.pending.length, bytes: r.pending.reduce((n, p) => n + p.bytes, 0) };
}

function summary(r: ControlReply): string {
  const { files, bytes } = leftOf(r);
  return `${files} files, ${bytes} bytes`;
}

/** The listed part of what is left, one line each, and how many more are not listed. */
function leftLines(r: ControlReply): string[] {
  const more = leftOf(r).files - r.pending.length;
  return [...r.pending.map(describe), ...(more > 0 ? [`  ... and ${more} more`] : [])];
}

/**
 * The drain's progress on a terminal: the queue the daemon reports twice a second becomes files and bytes done of
 * what was pending when it started (the totals grow if the queue does). Nothing is drawn while nothing is pending.
 */
function uploadProgress(label: string): {
  update(r: ControlReply): void;
  done(r: ControlReply): void;
} {
  let bar: Progress | undefined;
  const total = { files: 0, bytes: 0 };
  const update = (r: ControlReply): void => {
    const now = leftOf(r);
    if (bar === undefined) {
      if (now.files === 0) return;
      Object.assign(total, now);
      bar = startProgress({ label, totalFiles: now.files, totalBytes: now.bytes });
    }
    if (now.files > total.files || now.bytes > total.bytes) {
      total.files = Math.max(total.files, now.files);
      total.bytes = Math.max(total.bytes, now.bytes);
      bar.setTotals(total);
    }
    bar.update({ files: total.files - now.files, bytes: total.bytes - now.bytes });
  };
  return {
    update,
    done: (r) => {
      update(r);
      bar?.done(
        leftOf(r).files === 0 ? `${total.files} files, ${total.bytes} bytes uploaded` : `${summary(r)} left`,
      );
    },
  };
}

/** A status question that a hung daemon can't make `spfs status` wait on forever. */
const STATUS_ANSWER_MS = 5000;

async function askStatus(sock: string): Promise<ControlReply | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), STATUS_ANSWER_MS)));
  try {
    return await Promise.race([ask(sock, { cmd: 'status' }, () => undefined).catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The status of one mount from its record: pid, the kernel's mount table, and the daemon's own answer. */
export async function probeMount(rec: MountRecord): Promise<{ status: MountStatus; reply?: ControlReply }> {
  const daemonAlive = isAlive(rec.pid);
  const mounted = isMounted(rec.mountpoint);
  const sock = join(rec.cacheDir, 'control.sock');
  const reply = daemonAlive && mounted && existsSync(sock) ? await askStatus(sock) : undefined;
  return {
    status: mountStatus(rec, { daemonAlive, mounted, ...(reply ? { reply } : {}) }),
    ...(reply ? { reply } : {}),
  };
}

/** `spfs status [DIR] [--json]`: every mount of this user, one line each, or the details of the mount at DIR. */
export async function statusCommand(dir: string | undefined, json = false): Promise<number> {
  if (dir === undefined) {
    const all = await Promise.all(listMountRecords().map(async (r) => (await probeMount(r)).status));
    if (json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
    else if (all.length === 0) process.stdout.write('no spfs mounts\n');
    else for (const s of all) process.stdout.write(`${statusLine(s)}\n`);
    return EXIT.ok;
  }
  const rec = readMountRecord(mountpointOf(dir));
  if (rec === undefined) throw new UsageError(`${mountpointOf(dir)} is not an spfs mount`, EXIT.failure);
  const { status, reply } = await probeMount(rec);
  if (json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  else for (const l of statusDetails(status, reply?.fuse)) process.stdout.write(`${l}\n`);
  return status.stale === null ? EXIT.ok : EXIT.failure;
}

export async function flushCommand(paths: string[]): Promise<number> {
  const first = paths[0] ?? '.';
  const { sock, mountpoint } = socketFor(findMount(first));
  const rel = paths.map((p) => `/${relative(mountpoint, resolve(p))}`.replace(/\/$/, '') || '/');
  const only = rel.filter((p) => p !== '/');
  const req: ControlRequest = { cmd: 'flush', ...(only.length > 0 ? { paths: only } : {}) };
  const progress = uploadProgress('spfs: uploading');
  const r = await ask(sock, req, (p) => progress.update(p));
  progress.done(r);
  if (r.error !== undefined) throw new UsageError(r.error, EXIT.failure);
  if (leftOf(r).files === 0) {
    process.stdout.write('spfs: everything is on the server\n');
    return EXIT.ok;
  }
  process.stdout.write(`spfs: still pending: ${summary(r)}\n`);
  for (const l of leftLines(r)) process.stdout.write(`${l}\n`);
  return EXIT.failure;
}

/** Drains the journal (or not, with `force`), then the daemon detaches. Returns how many uploads stayed pending. */
export async function unmountViaControl(dir: string, force: boolean): Promise<number | undefined> {
  let found: { sock: string };
  try {
    found = socketFor(dir);
  } catch {
    return undefined;
  }
  const progress = uploadProgress('spfs: uploading before unmount');
  const r = await ask(found.sock, { cmd: 'unmount', force }, (p) => progress.update(p));
  progress.done(r);
  // The daemon could not drain (it stays mounted, the journal keeps every pending upload): say why.
  if (r.error !== undefined) throw new UsageError(r.error, EXIT.failure);
  const left = leftOf(r).files;
  if (left > 0) {
    process.stderr.write(
      `spfs: ${summary(r)} not uploaded${r.unreachable ? ' (server unreachable)' : ''}; ` +
        'they are kept and uploaded at the next mount\n',
    );
    for (const l of leftLines(r)) process.stderr.write(`${l}\n`);
  }
  return left;
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
export async function pinCommand(paths: string[], noWait: boolean): Promise<number> {
  let code: number = EXIT.ok;
  for (const { sock, rel } of pathsByMount(paths).values()) {
    const started = Date.now();
    // Drawn on a terminal only: files and bytes done of the pinned total, rate and time left.
    let bar: Progress | undefined;
    let saidOffline = false;
    const r = await ask(sock, { cmd: 'pin', paths: rel, ...(noWait ? { noWait: true } : {}) }, (line) => {
      const p = line.pin;
      if (p === undefined) return;
      bar ??= startProgress({ label: 'hydrating', totalFiles: p.files, totalBytes: p.bytes });
      bar.setTotals({ files: p.files, bytes: p.bytes });
      bar.update({ files: p.filesDone, bytes: p.bytesDone });
      if (p.offline && !saidOffline)
        process.stderr.write('spfs: offline: pinned files wait for the server\n');
      saidOffline ||= p.offline;
    });
    if (r.pin !== undefined) bar?.update({ files: r.pin.filesDone, bytes: r.pin.bytesDone });
    bar?.done();
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
