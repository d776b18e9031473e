// The fault storm and the soak (reliability parts 1 and 7): a real server and a real mount, a mixed workload
// (RandomWorkload's writes and renames against a TreeModel, reads and listings checked against it, and reads of
// seeded server files that need the network) while a cycler posts the reference server's faults in turn and kills
// the server with SIGKILL (restarted on the same data folder and port). When the storm ends: flush, unmount, and a
// fresh mount with an empty cache must show exactly the model. Errnos are checked against docs/SEMANTICS.md, and
// the server's request logs against the Retry-After it gave.
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../src/protocol/http/transport';
import { ADMIN_ARGS, adminPost } from './admin-endpoint';
import { RandomWorkload, Rng } from './random-workload';
import { newCounts, processUsage, type PartCounts } from './reliability-counts';
import {
  daemonPids,
  mountUnder,
  processAlive,
  readRequestLog,
  runSpfs,
  startServerProcess,
  type MountProcess,
  type RequestLogLine,
  type ServerProcess,
} from './spfs-processes';
import { compareTree, TreeModel, versionOf } from './tree-model';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// Which errno an application may see (docs/SEMANTICS.md, "Errno table" and the write-path table).

/**
 * Errnos SEMANTICS.md lists for an operation that needs the server's bytes (a read of content not cached, and an
 * open for writing without O_TRUNC, which first copies the server version: append, a write at an offset, truncate):
 * `ENETUNREACH` (server unreachable: killed, reset, stalled past the client's timeout), `EIO` (other HTTP or
 * protocol failure: throttling that outlasts the retries, a truncated or malformed body), `ENOSPC` (the cache bound
 * leaves no room: only open, pinned or dirty content left). Every other operation of a valid workload (creates,
 * overwrites with O_TRUNC, renames, deletes, mkdir/rmdir, listings of folders already listed) is answered from the
 * local store and the journal, so no errno at all is listed for it under any network fault.
 */
export const NETWORK_ERRNOS: readonly string[] = ['ENETUNREACH', 'EIO', 'ENOSPC'];

/** True for the workload's operations that may need the server's bytes (see NETWORK_ERRNOS). */
export function needsServerBytes(op: string): boolean {
  return /^(read|append|write at|truncate) /.test(op);
}

export function allowedErrnos(op: string): readonly string[] {
  return needsServerBytes(op) ? NETWORK_ERRNOS : [];
}

// ---------------------------------------------------------------------------------------------------------------
// Retry-After from the request log.

/** Retry-After the storm's 429/503 faults give, seconds. */
export const RETRY_AFTER_S = 2;
/**
 * A request that reaches the server this soon after a 429/503 answer may have been sent before the client read that
 * answer (in flight on another connection, or queued in the server's event loop): not a violation. (Requests can't
 * be matched to the one throttled: the uploader sends write batches side by side, to the same URL.)
 */
export const IN_FLIGHT_MS = 500;

const arrivalMs = (l: RequestLogLine): number => Date.parse(l.t) - l.ms;

/** Requests of the client that arrived before a Retry-After it was given expired (one line each). */
export function retryAfterViolations(lines: readonly RequestLogLine[], retryAfterMs: number): string[] {
  // Only the mount's requests: the admin endpoint's are the test's own, and an unauthenticated one is no client's.
  const client = lines
    .filter((l) => !l.path.startsWith('/_spfs/admin') && l.user !== null && l.user !== undefined)
    .sort((a, b) => arrivalMs(a) - arrivalMs(b));
  const out: string[] = [];
  for (const t of client) {
    if (t.status !== 429 && t.status !== 503) continue;
    // The answer left no earlier than the throttled request arrived: the window starts there at the latest.
    const from = arrivalMs(t);
    const until = from + retryAfterMs;
    for (const l of client) {
      const at = arrivalMs(l);
      if (l === t || at <= from || at >= until) continue;
      if (at > Date.parse(t.t) + IN_FLIGHT_MS) {
        out.push(
          `${l.method} ${l.path}${l.query ? `?${l.query}` : ''} arrived ${at - from} ms after a ${t.status} ` +
            `(Retry-After ${retryAfterMs / 1000} s) to ${t.method} ${t.path}`,
        );
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The server: started on a fixed port, killed and restarted on the same data folder, port and password.

export class StormServer {
  /** Every process started, in order (each has its own request log). */
  readonly started: ServerProcess[] = [];

  private constructor(
    private readonly opts: { dataDir: string; port: number; extraArgs: string[] },
    first: ServerProcess,
  ) {
    this.started.push(first);
  }

  static async start(o: {
    dataDir: string;
    seedDir: string;
    port: number;
    extraArgs: string[];
  }): Promise<StormServer> {
    const first = await startServerProcess({
      dataDir: o.dataDir,
      seedDir: o.seedDir,
      port: o.port,
      extraArgs: o.extraArgs,
    });
    return new StormServer(o, first);
  }

  get current(): ServerProcess {
    return this.started[this.started.length - 1] as ServerProcess;
  }

  get adminPort(): string {
    return String(this.opts.port);
  }

  /** SIGKILL, then the same server again (same data folder, port and password). */
  async killAndRestart(): Promise<void> {
    const dead = this.current;
    const exited = new Promise((r) => dead.child.once('exit', r));
    dead.child.kill('SIGKILL');
    await exited;
    this.started.push(
      await startServerProcess({
        dataDir: this.opts.dataDir,
        port: this.opts.port,
        password: dead.password,
        extraArgs: this.opts.extraArgs,
      }),
    );
  }

  requestLogs(): RequestLogLine[][] {
    return this.started.map((s) => readRequestLog(s));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The fault cycler.

export type StormStep =
  | 'status-429'
  | 'status-503'
  | 'reset'
  | 'reset-mid-body'
  | 'stall'
  | 'truncate'
  | 'malformed-xml'
  | 'etag-conflict'
  | 'resync-needed'
  | 'server-kill';

/** In turn; the stall first, because it holds one request for the client's whole timeout (30 s). */
export const STORM_STEPS: readonly StormStep[] = [
  'stall',
  'status-429',
  'reset',
  'etag-conflict',
  'reset-mid-body',
  'status-503',
  'truncate',
  'server-kill',
  'malformed-xml',
  'resync-needed',
];

/** The fault rule each step posts (the kill is not a rule). Downloads are the GETs of file content (`/Content`). */
export function faultRuleFor(step: Exclude<StormStep, 'server-kill'>): Record<string, unknown> {
  switch (step) {
    case 'status-429':
      return { kind: 'status', status: 429, retryAfterSeconds: RETRY_AFTER_S, count: 1 };
    case 'status-503':
      return { kind: 'status', status: 503, retryAfterSeconds: RETRY_AFTER_S, count: 1 };
    case 'reset':
      return { kind: 'reset', count: 1 };
    case 'reset-mid-body':
      return { kind: 'reset-mid-body', method: 'GET', count: 1 };
    case 'stall':
      // No stallMs: the connection is held until the client's own timeout gives up on it.
      return { kind: 'stall', method: 'GET', count: 1 };
    case 'truncate':
      return { kind: 'truncate', method: 'GET', count: 1 };
    case 'malformed-xml':
      return { kind: 'malformed-xml', count: 1 };
    case 'etag-conflict':
      // The next write batches (E8, POST RootFolder): every ETag check in them fails. A batch of creates only has
      // none, so three batches are hit.
      return { kind: 'etag-conflict', method: 'POST', path: '/RootFolder\\?', count: 3 };
    case 'resync-needed':
      return { kind: 'resync-needed', count: 1 };
  }
}

/** The client's request timeout (DEFAULT_REQUEST_TIMEOUT_MS in src/protocol/http/transport.ts). */
export const CLIENT_TIMEOUT_MS = DEFAULT_REQUEST_TIMEOUT_MS;

class FaultCycler {
  /** Faults that hit a request (or a kill), by step. */
  readonly hit = new Map<StormStep, number>();
  private readonly posted = new Map<number, StormStep>();
  private stopped = false;

  constructor(
    private readonly server: StormServer,
    private readonly token: string,
    private readonly gapMs: number,
  ) {}

  get total(): number {
    return [...this.hit.values()].reduce((a, b) => a + b, 0);
  }

  async run(until: number): Promise<void> {
    for (let i = 0; !this.stopped && Date.now() < until; i++) {
      const step = STORM_STEPS[i % STORM_STEPS.length] as StormStep;
      // A stall holds its request for the client's whole timeout: first, then only while the storm lasts that long.
      if (step === 'stall' && i > 0 && until - Date.now() < CLIENT_TIMEOUT_MS) continue;
      if (step === 'server-kill') {
        const unhit = await this.settle();
        await this.server.killAndRestart();
        // Rules no request had hit yet die with the server: the restarted one gets them again.
        for (const left of unhit) await this.post(left);
        this.count('server-kill');
      } else {
        await this.post(step);
      }
      await sleep(this.gapMs);
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private async post(step: Exclude<StormStep, 'server-kill'>): Promise<void> {
    const r = (await adminPost(this.server.adminPort, this.token, '/faults', faultRuleFor(step))) as {
      faults: Array<{ id: number }>;
    };
    for (const f of r.faults) this.posted.set(f.id, step);
  }

  /** Counts the posted rules that were used up, drops the rest (no fault stays behind) and returns their steps. */
  async settle(): Promise<Array<Exclude<StormStep, 'server-kill'>>> {
    const port = this.server.adminPort;
    const res = await fetch(`http://127.0.0.1:${port}/_spfs/admin/faults`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    const left = new Set(((await res.json()) as { faults: Array<{ id: number }> }).faults.map((f) => f.id));
    const unhit: Array<Exclude<StormStep, 'server-kill'>> = [];
    for (const [id, step] of this.posted) {
      if (!left.has(id)) this.count(step);
      else if (step !== 'server-kill') unhit.push(step);
    }
    this.posted.clear();
    await fetch(`http://127.0.0.1:${port}/_spfs/admin/faults`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${this.token}` },
    });
    return unhit;
  }

  private count(step: StormStep): void {
    this.hit.set(step, (this.hit.get(step) ?? 0) + 1);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded server files (read-only for the workload: their reads need the network once evicted or never read).

export const SEED_DIR = 'seed';

export function writeSeed(dir: string, rng: Rng, files: number, maxBytes: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  mkdirSync(join(dir, SEED_DIR), { recursive: true });
  for (let i = 0; i < files; i++) {
    const size = rng.int(16 * 1024, maxBytes);
    const block = Buffer.alloc(64 * 1024);
    for (let j = 0; j < block.length; j++) block[j] = 32 + Math.floor(rng.next() * 95);
    Buffer.from(`seed ${i}\n`).copy(block);
    const bytes = Buffer.alloc(size);
    for (let off = 0; off < size; off += block.length) block.copy(bytes, off);
    const rel = `${SEED_DIR}/s${i}.bin`;
    writeFileSync(join(dir, rel), bytes);
    out.set(rel, bytes);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The run.

export interface StormOptions {
  part: string;
  seed: number;
  /** How long faults are injected, ms (the workload runs as long). */
  faultMs: number;
  /** Pause between two fault steps, ms. */
  gapMs: number;
  work: string;
  track: string[];
  adminToken: string;
  port: number;
  /** `--cache-size` of the mount (small in the soak, so eviction runs). */
  cacheSize: string;
  seedFiles: number;
  seedMaxBytes: number;
  /** Size of the large file written every 40 operations (a BITS upload above the server's 4 MiB threshold). */
  largeBytes: number;
  /** Resource samples (RSS, fds, cache use) every this many ms; 0 = none. */
  sampleEveryMs: number;
  /** Servers go here as they start, so the caller's cleanup stops them. */
  servers: ServerProcess[];
}

export interface UsageSample {
  atMs: number;
  rssBytes: number;
  fds: number;
  cacheUsedBytes: number;
  cacheMaxBytes: number;
}

export interface StormResult {
  counts: PartCounts;
  details: string[];
  samples: UsageSample[];
  hits: Map<StormStep, number>;
  /** How long the final `spfs flush` took (the backlog the faults left draining). */
  flushMs: number;
}

interface ErrorRecord {
  op: string;
  errno: string;
}

export async function runStorm(o: StormOptions): Promise<StormResult> {
  const rng = new Rng(o.seed);
  const counts = newCounts(o.part, o.seed);
  const details: string[] = [];
  const errors: ErrorRecord[] = [];
  const seedDir = join(o.work, 'seed-src');
  const seedFiles = writeSeed(seedDir, rng, o.seedFiles, o.seedMaxBytes);
  const server = await StormServer.start({
    dataDir: join(o.work, 'data'),
    seedDir,
    port: o.port,
    extraArgs: [...ADMIN_ARGS, '--inline-threshold', '4M'],
  });
  const trackServers = (): void => {
    for (const s of server.started) if (!o.servers.includes(s)) o.servers.push(s);
  };
  trackServers();
  const mount = await mountUnder(
    server.current,
    o.work,
    'storm',
    ['--write-back', '0.2', '--poll-interval', '1', '--cache-size', o.cacheSize],
    o.track,
  );
  const pid = daemonPids(mount.cacheDir)[0];
  if (pid === undefined) throw new Error('no daemon for the storm mount');

  const model = new TreeModel();
  const workload = new RandomWorkload(rng, model, () => mount.mountpoint);
  const until = Date.now() + o.faultMs;
  const cycler = new FaultCycler(server, o.adminToken, o.gapMs);
  const samples: UsageSample[] = [];
  const started = Date.now();

  let daemonGone = false;
  const sample = async (): Promise<void> => {
    if (!processAlive(pid)) {
      if (!daemonGone) details.push(`the mount's daemon (pid ${pid}) exited during the run`);
      daemonGone = true;
      return;
    }
    const u = processUsage(pid);
    const cache = await cacheUse(mount);
    if (typeof cache === 'string') {
      // The daemon must answer `spfs status` throughout (issue 15): a failure is a finding, kept with its time.
      counts.mismatches++;
      details.push(`spfs status failed ${((Date.now() - started) / 1000).toFixed(0)} s in: ${cache}`);
      return;
    }
    samples.push({ atMs: Date.now() - started, rssBytes: u.rssBytes, fds: u.fds, ...cache });
    counts.maxRssBytes = Math.max(counts.maxRssBytes, u.hwmBytes);
  };
  const sampler = async (): Promise<void> => {
    if (o.sampleEveryMs <= 0) return;
    while (Date.now() < until) {
      await sample();
      await sleep(o.sampleEveryMs);
    }
  };

  const note = (op: string, err: unknown): void => {
    const errno = (err as NodeJS.ErrnoException).code ?? String(err);
    errors.push({ op, errno });
  };

  // The writer: RandomWorkload's operations, with reads of its files and listings of its folders between them.
  const writer = async (): Promise<void> => {
    let logged = 0;
    for (let i = 0; Date.now() < until; i++) {
      if (i % 40 === 39) await workload.writeLarge(o.largeBytes);
      else await workload.run(1);
      for (const r of workload.log.slice(logged)) if (r.error !== undefined) note(r.op, { code: r.error });
      counts.operations += workload.log.length - logged;
      logged = workload.log.length;
      if (rng.chance(0.25)) await readOwnFile();
      if (rng.chance(0.15)) await listFolder();
    }
  };
  const readOwnFile = async (): Promise<void> => {
    const paths = [...model.files.keys()];
    if (paths.length === 0) return;
    const p = rng.pick(paths);
    const want = model.files.get(p);
    counts.operations++;
    try {
      const got = await readFile(join(mount.mountpoint, p));
      if (want !== undefined && versionOf(got).hash !== want.version.hash) {
        counts.mismatches++;
        details.push(`read ${p}: ${got.length} bytes, not the ${want.version.size} closed last`);
      } else counts.bytesVerified += got.length;
    } catch (err) {
      note(`read ${p}`, err);
    }
  };
  const listFolder = async (): Promise<void> => {
    const dir = rng.pick(['', ...model.dirs]);
    const want = [...model.filesUnder(dir), ...model.dirsUnder(dir), ...(dir === '' ? [SEED_DIR] : [])].map(
      (p) => p.slice(dir === '' ? 0 : dir.length + 1),
    );
    counts.operations++;
    try {
      const got = await readdir(join(mount.mountpoint, dir));
      const a = [...got].sort().join('/');
      const b = want.sort().join('/');
      if (a !== b) {
        counts.mismatches++;
        details.push(`list ${dir || '/'}: [${a}], the model says [${b}]`);
      }
    } catch (err) {
      note(`list ${dir || '/'}`, err);
    }
  };
  // The reader: whole seeded files, which need the network while they are not cached.
  const reader = async (): Promise<void> => {
    const paths = [...seedFiles.keys()];
    while (Date.now() < until) {
      const p = rng.pick(paths);
      counts.operations++;
      try {
        const got = await readFile(join(mount.mountpoint, p));
        if (!got.equals(seedFiles.get(p) as Buffer)) {
          counts.mismatches++;
          details.push(`read ${p}: ${got.length} bytes differ from the seeded ones`);
        } else counts.bytesVerified += got.length;
      } catch (err) {
        note(`read ${p}`, err);
        await sleep(100); // offline reads fail at once: do not spin
      }
    }
  };

  try {
    // Every folder listed once (the first pass is done) before faults start: listings are local from then on.
    await listFolder();
    await Promise.all([cycler.run(until), writer(), reader(), sampler()]);
  } finally {
    cycler.stop();
    trackServers();
  }
  await cycler.settle();
  counts.faults = cycler.total;
  counts.crashes = cycler.hit.get('server-kill') ?? 0;

  for (const e of errors) {
    if (allowedErrnos(e.op).includes(e.errno)) continue;
    counts.errnoSurprises++;
    details.push(`errno surprise: ${e.op}: ${e.errno}`);
  }

  // Faults stopped: everything closed must reach the server.
  const env = { SPFS_STATE_DIR: join(mount.cacheDir, '..', 'state') };
  const flushStart = Date.now();
  const flushed = await runSpfs(['flush', mount.mountpoint], env, 300_000);
  const flushMs = Date.now() - flushStart;
  if (flushed.code !== 0) {
    counts.lost++;
    details.push(`spfs flush failed (${flushed.code}): ${flushed.stdout}${flushed.stderr}`);
  }
  await sample();
  if (daemonGone) counts.mismatches++;
  const unmounted = await mount.unmount();
  if (unmounted.code !== 0) details.push(`spfs unmount: ${unmounted.code} ${unmounted.stderr}`);

  // The server's view: a fresh mount with an empty cache shows exactly the model (seeded files included).
  for (const [p, bytes] of seedFiles) model.setFile(p, bytes);
  model.dirs.add(SEED_DIR);
  const fresh = await mountUnder(server.current, o.work, 'verify', [], o.track);
  try {
    const diff = await compareTree(fresh.mountpoint, model);
    counts.lost += diff.lost.length;
    counts.mismatches += diff.wrong.length + diff.conflicts.length + diff.unexpected.length;
    for (const p of diff.lost) details.push(`lost: ${p}`);
    for (const p of diff.wrong) details.push(`wrong: ${p}`);
    for (const p of diff.conflicts) details.push(`conflict copy nobody explains: ${p}`);
    for (const p of diff.unexpected) details.push(`unexpected: ${p}`);
    for (const f of model.files.values()) counts.bytesVerified += f.version.size;
  } finally {
    await fresh.unmount();
  }

  const violations = server.requestLogs().flatMap((log) => retryAfterViolations(log, RETRY_AFTER_S * 1000));
  counts.mismatches += violations.length;
  for (const v of violations) details.push(`Retry-After not honoured: ${v}`);

  return { counts, details, samples, hits: cycler.hit, flushMs };
}

/** The content cache's use and bound, from `spfs status --json` (docs/STATUS.md). */
async function cacheUse(
  m: MountProcess,
): Promise<{ cacheUsedBytes: number; cacheMaxBytes: number } | string> {
  const r = await runSpfs(['status', m.mountpoint, '--json'], {
    SPFS_STATE_DIR: join(m.cacheDir, '..', 'state'),
  });
  let s: { cache: { usedBytes: number; maxBytes: number } | null };
  try {
    s = JSON.parse(r.stdout) as typeof s;
  } catch {
    return `exit ${r.code}, stdout ${JSON.stringify(r.stdout.slice(0, 200))}, stderr ${JSON.stringify(r.stderr.slice(0, 500))}`;
  }
  return { cacheUsedBytes: s.cache?.usedBytes ?? -1, cacheMaxBytes: s.cache?.maxBytes ?? -1 };
}

/** Allocated bytes (st_blocks × 512) of the files under a folder, as the cache bound counts them. */
export function allocatedBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += allocatedBytes(p);
    else if (e.isFile()) total += statSync(p).blocks * 512;
  }
  return total;
}

/** Per-step hit counts for the part's `extra`: `stall 1, 429 2, ...`. */
export function describeHits(hits: Map<StormStep, number>): string {
  return STORM_STEPS.map((s) => `${s} ${hits.get(s) ?? 0}`).join(', ');
}
