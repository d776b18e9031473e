// What `spfs status` reports of one mount, as plain data (the schema of `--json`, docs/STATUS.md) built from its
// record, whether its daemon and mount are alive, and the daemon's answer; and the text it prints. No I/O here.
import type { PendingUpload } from '../sync/uploader';
import type { ControlReply, FuseStatus } from './control-socket';
import type { MountRecord } from './mount-registry';

/** Bumped only when a field changes meaning or goes away; new fields may be added within a version. */
export const STATUS_SCHEMA_VERSION = 1;

export type StaleReason = 'daemon-dead' | 'mount-gone' | 'no-answer';

export interface StaleInfo {
  reason: StaleReason;
  /** One sentence: what happened. */
  detail: string;
  /** The command that puts it right. */
  fix: string;
}

export type UploadState = 'waiting' | 'offline' | 'retrying' | 'refused';

export interface UploadStatus {
  path: string;
  op: PendingUpload['op'];
  bytes: number;
  state: UploadState;
  /** Why it is retrying or refused (the server's or the network's words); null while just waiting. */
  reason: string | null;
}

export interface MountStatus {
  schemaVersion: typeof STATUS_SCHEMA_VERSION;
  mountpoint: string;
  url: string;
  pid: number;
  cacheDir: string;
  startedAt: string;
  state: 'online' | 'offline' | 'stale';
  /** When the mount went online or offline (ISO 8601); null when stale. */
  since: string | null;
  /** The network failure that made it offline; null otherwise. */
  lastError: string | null;
  stale: StaleInfo | null;
  fuse: Pick<FuseStatus, 'adapter' | 'kernelCacheS'> | null;
  itemsKnown: number | null;
  cache: {
    usedBytes: number;
    maxBytes: number;
    hydratedFiles: number;
    partialFiles: number;
    pinnedFiles: number;
  } | null;
  uploads: {
    files: number;
    bytes: number;
    failing: number;
    items: UploadStatus[];
    itemsOmitted: number;
  } | null;
  /** Last completed sync pass of this daemon (ISO 8601); null before the first. */
  lastSyncAt: string | null;
  quota: { state: string; usedBytes: number; grantedBytes: number } | null;
}

/** Liveness of a mount from its record: the daemon's pid, the kernel's mount table, the control socket. */
export interface Liveness {
  daemonAlive: boolean;
  mounted: boolean;
  /** The control socket's status answer; undefined when it did not answer. */
  reply?: ControlReply;
}

export function staleInfo(rec: MountRecord, l: Liveness): StaleInfo | undefined {
  const fix = `spfs unmount ${rec.mountpoint}`;
  if (!l.daemonAlive && l.mounted)
    return {
      reason: 'daemon-dead',
      detail: `the daemon (pid ${rec.pid}) is dead; the mount is left behind (ENOTCONN)`,
      fix,
    };
  if (!l.daemonAlive)
    return { reason: 'daemon-dead', detail: `the daemon (pid ${rec.pid}) is dead; the mount is gone`, fix };
  if (!l.mounted)
    return { reason: 'mount-gone', detail: `the mount is gone; its daemon (pid ${rec.pid}) still runs`, fix };
  if (l.reply === undefined)
    return {
      reason: 'no-answer',
      detail: `the daemon (pid ${rec.pid}) does not answer on its control socket`,
      fix: `kill ${rec.pid}; ${fix}`,
    };
  return undefined;
}

function uploadStatus(p: PendingUpload, online: boolean): UploadStatus {
  const state: UploadState = p.permanent
    ? 'refused'
    : p.failure !== undefined
      ? 'retrying'
      : online
        ? 'waiting'
        : 'offline';
  return { path: p.path, op: p.op, bytes: p.bytes, state, reason: p.failure ?? null };
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function mountStatus(rec: MountRecord, l: Liveness): MountStatus {
  const stale = staleInfo(rec, l);
  const base = {
    schemaVersion: STATUS_SCHEMA_VERSION,
    mountpoint: rec.mountpoint,
    url: rec.url,
    pid: rec.pid,
    cacheDir: rec.cacheDir,
    startedAt: iso(rec.startedMs),
  } as const;
  const r = l.reply;
  if (stale !== undefined || r === undefined)
    return {
      ...base,
      state: 'stale',
      since: null,
      lastError: null,
      stale: stale ?? null,
      fuse: null,
      itemsKnown: null,
      cache: null,
      uploads: null,
      lastSyncAt: null,
      quota: null,
    };
  const online = r.connectivity?.state !== 'offline';
  const items = r.pending.map((p) => uploadStatus(p, online));
  const m = r.mount;
  return {
    ...base,
    state: online ? 'online' : 'offline',
    since: r.connectivity ? iso(r.connectivity.sinceMs) : null,
    lastError: r.connectivity?.lastError ?? null,
    stale: null,
    fuse: r.fuse ? { adapter: r.fuse.adapter, kernelCacheS: r.fuse.kernelCacheS } : null,
    itemsKnown: m?.itemsKnown ?? null,
    cache: m ? { ...m.cache, pinnedFiles: m.pinnedFiles } : null,
    uploads: {
      // A daemon older than the `queue` counts listed every entry.
      files: r.queue?.files ?? items.length,
      bytes: r.queue?.bytes ?? items.reduce((n, u) => n + u.bytes, 0),
      failing: r.queue?.failing ?? items.filter((u) => u.reason !== null).length,
      items,
      itemsOmitted: Math.max(0, (r.queue?.files ?? items.length) - items.length),
    },
    lastSyncAt: m?.lastSyncMs !== undefined ? iso(m.lastSyncMs) : null,
    quota: m?.quota ? { state: m.quota.state, usedBytes: m.quota.used, grantedBytes: m.quota.granted } : null,
  };
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

/** One line of `spfs status` without a folder. */
export function statusLine(s: MountStatus): string {
  if (s.stale !== null) return `${s.mountpoint}  ${s.url}  STALE: ${s.stale.detail}; run: ${s.stale.fix}`;
  const up = s.uploads;
  const pending =
    up === null || up.files === 0 ? 'nothing pending' : `${up.files} pending (${formatBytes(up.bytes)})`;
  const failing = up !== null && up.failing > 0 ? `, ${up.failing} failing` : '';
  return `${s.mountpoint}  ${s.url}  ${s.state}  ${pending}${failing}`;
}

function describeUpload(u: UploadStatus): string {
  const why =
    u.state === 'refused'
      ? ` — refused: ${u.reason}`
      : u.state === 'retrying'
        ? ` — retrying: ${u.reason}`
        : '';
  return `  ${u.op} ${u.path} (${u.bytes} bytes)${why}`;
}

/** The details of `spfs status DIR`, one fact a line. */
export function statusDetails(s: MountStatus, fuse?: FuseStatus): string[] {
  const lines = [`mountpoint: ${s.mountpoint}`, `library: ${s.url}`];
  if (s.stale !== null) {
    lines.push(`state: STALE: ${s.stale.detail}`, `fix: ${s.stale.fix}`);
    return lines;
  }
  if (s.since !== null)
    lines.push(
      `server: ${s.state} since ${s.since}${s.lastError !== null ? ` (last error: ${s.lastError})` : ''}`,
    );
  if (fuse !== undefined) {
    lines.push(`fuse: ${fuse.adapter}, kernel caches names and attributes for ${fuse.kernelCacheS} s`);
    if (fuse.requests !== undefined) {
      const served = Object.entries(fuse.requests)
        .filter(([, n]) => n > 0)
        .map(([op, n]) => `${op} ${n}`);
      lines.push(`fuse requests: ${served.join(', ') || 'none'}`);
    }
  }
  if (s.itemsKnown !== null) lines.push(`items known: ${s.itemsKnown}`);
  if (s.cache !== null)
    lines.push(
      `cache: ${formatBytes(s.cache.usedBytes)} of ${formatBytes(s.cache.maxBytes)}; ` +
        `${s.cache.hydratedFiles} files hydrated, ${s.cache.partialFiles} partly, ${s.cache.pinnedFiles} pinned`,
    );
  lines.push(`last sync: ${s.lastSyncAt ?? 'none yet since mount'}`);
  if (s.quota !== null)
    lines.push(
      `quota: ${formatBytes(s.quota.usedBytes)} used of ${formatBytes(s.quota.grantedBytes)} (${s.quota.state})`,
    );
  const up = s.uploads;
  if (up !== null) {
    lines.push(`pending uploads: ${up.files} files, ${up.bytes} bytes`);
    if (up.failing > 0) lines.push(`failures: ${up.failing}`);
    for (const u of up.items) lines.push(describeUpload(u));
    if (up.itemsOmitted > 0) lines.push(`  ... and ${up.itemsOmitted} more`);
  }
  return lines;
}
