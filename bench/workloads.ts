// The workloads: each session mounts (fresh when it measures cold), drops the page cache, measures one or more
// metrics and unmounts. A session records samples; a contender that cannot do a workload says why.
import {
  closeSync,
  cpSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { bigName, contentStream, midName, type DatasetSpec } from './dataset';
import type { Contender, Listing, RemoteOp } from './contenders';
import { dropCaches, nowMs, rssMib, run, sleep, timeCommand } from './sys';

export interface Metric {
  id: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
}

export interface SessionContext {
  spec: DatasetSpec;
  /** Relative paths of the tree files (under tree/). */
  treeFiles: readonly string[];
  /** Local folder with the write sources: small/ (n × 4 KiB) and big.bin. */
  writeSrc: string;
  smallWrites: number;
  bigWriteMib: number;
  fioSeconds: number;
  /** Unique tag of this repetition (for write targets). */
  rep: number;
  record(metric: string, value: number): void;
  /** The contender cannot do this metric; `why` starts with "not supported yet" or "n/a". */
  skip(metric: string, why: string): void;
}

export interface Session {
  name: string;
  metrics: readonly string[];
  run(c: Contender, ctx: SessionContext): Promise<void>;
}

const MIB = 1024 * 1024;
const MB = 1e6;
/** Pause before a "warm" listing so FUSE's default 1 s entry/attr cache has expired (as in the baseline). */
const WARM_PAUSE_MS = 1200;
const SERVER_WAIT_MS = 300_000;
const buf = Buffer.allocUnsafe(MIB);

/** Reads a whole file with 1 MiB reads; returns bytes read. */
function readAll(path: string): number {
  const fd = openSync(path, 'r');
  let total = 0;
  try {
    for (let n; (n = readSync(fd, buf, 0, MIB, null)) > 0;) total += n;
  } finally {
    closeSync(fd);
  }
  return total;
}

function mbps(path: string): number {
  const t0 = nowMs();
  const bytes = readAll(path);
  return bytes / MB / ((nowMs() - t0) / 1000);
}

/** open + first 4 KiB read, ms. */
function ttfbMs(path: string): number {
  const t0 = nowMs();
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, 4096, 0);
  } finally {
    closeSync(fd);
  }
  return nowMs() - t0;
}

async function fresh(c: Contender, cold: boolean): Promise<void> {
  await c.mount(cold);
  dropCaches();
}

async function fio(path: string, bytes: number, seconds: number): Promise<{ iops: number; p99us: number }> {
  const out = await run(
    'fio',
    [
      '--name=rand4k',
      `--filename=${path}`,
      '--rw=randread',
      '--bs=4k',
      '--ioengine=psync',
      '--readonly',
      '--invalidate=0',
      `--size=${bytes}`,
      `--runtime=${seconds}`,
      '--time_based',
      '--output-format=json',
    ],
    { capture: true },
  );
  const job = (
    JSON.parse(out.slice(out.indexOf('{'))) as {
      jobs: Array<{ read: { iops: number; clat_ns: { percentile: Record<string, number> } } }>;
    }
  ).jobs[0]!;
  return { iops: job.read.iops, p99us: (job.read.clat_ns.percentile['99.000000'] ?? NaN) / 1000 };
}

const big = (ctx: SessionContext, i: 0 | 1): string => bigName(ctx.spec.bigMib[i]);

export const SESSIONS: readonly Session[] = [
  {
    name: 'big file A: cold read, warm re-read, random 4 KiB',
    metrics: ['read-cold-a', 'read-warm-a', 'rand-iops', 'rand-p99'],
    run: async (c, ctx) => {
      await fresh(c, true);
      const file = join(c.root, big(ctx, 0));
      ctx.record('read-cold-a', mbps(file));
      ctx.record('read-warm-a', mbps(file));
      const r = await fio(file, ctx.spec.bigMib[0] * MIB, ctx.fioSeconds);
      ctx.record('rand-iops', r.iops);
      ctx.record('rand-p99', r.p99us);
    },
  },
  {
    name: 'big file B: cold read, warm re-read',
    metrics: ['read-cold-b', 'read-warm-b'],
    run: async (c, ctx) => {
      await fresh(c, true);
      const file = join(c.root, big(ctx, 1));
      ctx.record('read-cold-b', mbps(file));
      ctx.record('read-warm-b', mbps(file));
    },
  },
  {
    name: 'time to first byte',
    metrics: ['ttfb-1m', 'ttfb-a', 'ttfb-b'],
    run: async (c, ctx) => {
      await c.mount(true);
      const files: Array<[string, string]> = [
        ['ttfb-1m', join('mid', midName(0))],
        ['ttfb-a', big(ctx, 0)],
        ['ttfb-b', big(ctx, 1)],
      ];
      for (const [metric, rel] of files) {
        dropCaches();
        ctx.record(metric, ttfbMs(join(c.root, rel)));
      }
    },
  },
  {
    name: 'many 1 MiB files, cold',
    metrics: ['mid-cold', 'mid-cold-mbps'],
    run: async (c, ctx) => {
      await fresh(c, true);
      const t0 = nowMs();
      for (let i = 0; i < ctx.spec.midCount; i++) readAll(join(c.root, 'mid', midName(i)));
      const seconds = (nowMs() - t0) / 1000;
      ctx.record('mid-cold', ctx.spec.midCount / seconds);
      ctx.record('mid-cold-mbps', (ctx.spec.midCount * MIB) / MB / seconds);
    },
  },
  ...(['find', 'ls'] as const).map((tool): Session => ({
    name: `${tool} over the tree`,
    metrics: [`${tool}-cold`, `${tool}-warm`],
    run: async (c, ctx) => {
      await fresh(c, true);
      const args = tool === 'find' ? [join(c.root, 'tree')] : ['-lR', join(c.root, 'tree')];
      ctx.record(`${tool}-cold`, await timeCommand(tool, args));
      await sleep(WARM_PAUSE_MS);
      ctx.record(`${tool}-warm`, await timeCommand(tool, args));
    },
  })),
  {
    name: 'stat of every file',
    metrics: ['stat-cold', 'stat-warm'],
    run: async (c, ctx) => {
      await fresh(c, true);
      const statAll = (): number => {
        const t0 = nowMs();
        for (const f of ctx.treeFiles) statSync(join(c.root, 'tree', f));
        return nowMs() - t0;
      };
      ctx.record('stat-cold', statAll());
      await sleep(WARM_PAUSE_MS);
      ctx.record('stat-warm', statAll());
    },
  },
  {
    name: 'writes',
    metrics: ['write-small-cp', 'write-small-server', 'write-big-close', 'write-big-server'],
    run: async (c, ctx) => {
      await c.mount(false);
      const dir = `bench-writes-${c.id}-${ctx.rep}`;
      try {
        mkdirSync(join(c.root, dir));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? String(err);
        for (const m of ['write-small-cp', 'write-small-server', 'write-big-close', 'write-big-server'])
          ctx.skip(m, `not supported yet (mkdir answers ${code})`);
        return;
      }
      const small = join(dir, 'small');
      let t0 = nowMs();
      await run('cp', ['-r', join(ctx.writeSrc, 'small'), join(c.root, small)]);
      ctx.record('write-small-cp', nowMs() - t0);
      await serverWait(c, ctx, 'write-small-server', t0, small, ctx.smallWrites, 4096);
      t0 = nowMs();
      await run('cp', [join(ctx.writeSrc, 'big.bin'), join(c.root, dir, 'big.bin')]);
      ctx.record('write-big-close', nowMs() - t0);
      await serverWait(c, ctx, 'write-big-server', t0, dir, 1, ctx.bigWriteMib * MIB);
      rmSync(join(c.root, dir), { recursive: true, force: true });
    },
  },
];

/** Polls the server's view until `count` files of `bytes` each are in relDir; records ms since t0. */
async function serverWait(
  c: Contender,
  ctx: SessionContext,
  metric: string,
  t0: number,
  relDir: string,
  count: number,
  bytes: number,
): Promise<void> {
  if (!c.remote) return ctx.skip(metric, 'n/a (no server: on disk when cp returns)');
  const done = (l: Listing): boolean =>
    l !== undefined && [...l.values()].filter((s) => s === bytes).length >= count;
  while (!done(await c.serverListing(relDir))) {
    if (nowMs() - t0 > SERVER_WAIT_MS)
      throw new Error(`${metric}: not on the server after ${SERVER_WAIT_MS} ms`);
    await sleep(20);
  }
  ctx.record(metric, nowMs() - t0);
}

/** Remote-change latency: a change made on the server side, polled through the mount until visible. */
/**
 * Another user creates a file, then rewrites it with longer content, then deletes it; each time, how long until the
 * mount shows it (the file stats; reads the new bytes; stats as gone). The edit and delete hit a file the kernel
 * has just looked up and read, so what it cached must be dropped for them to show.
 */
export async function remoteChangeLatencies(
  c: Contender,
  changes: number,
  timeoutMs: number,
): Promise<{ samples: Record<RemoteOp, number[]>; error?: string }> {
  const change = c.remoteChange;
  if (change === undefined) throw new Error('no remote change hook');
  await c.mount(false);
  const samples: Record<RemoteOp, number[]> = { create: [], edit: [], delete: [] };
  const until = async (
    op: RemoteOp,
    i: number,
    rel: string,
    content: string | undefined,
    seen: () => boolean,
  ) => {
    const t0 = nowMs();
    await change(op, rel, content);
    while (!seen()) {
      if (nowMs() - t0 > timeoutMs)
        throw new Error(`${op} ${i + 1} not visible through the mount within ${timeoutMs / 1000} s`);
      await sleep(10);
    }
    samples[op].push(nowMs() - t0);
  };
  const exists = (p: string): boolean => {
    try {
      statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  const reads = (p: string, want: string): boolean => {
    try {
      return readFileSync(p, 'utf8') === want;
    } catch {
      return false;
    }
  };
  try {
    for (let i = 0; i < changes; i++) {
      const rel = `bench-change-${process.pid}-${i}.txt`;
      const path = join(c.root, rel);
      const first = `change ${i}\n`;
      const second = `change ${i}, rewritten by another user with more bytes\n`;
      await until('create', i, rel, first, () => exists(path));
      if (!reads(path, first)) throw new Error(`${rel}: the created content did not read back`);
      await until('edit', i, rel, second, () => reads(path, second));
      await until('delete', i, rel, undefined, () => !exists(path));
    }
  } catch (err) {
    return { samples, error: err instanceof Error ? err.message : String(err) };
  }
  return { samples };
}

/** Mount readiness of the big library: first mount (empty cache), RSS, list everything, RSS, remount. */
export async function mountReadiness(c: Contender, record: (m: string, v: number) => void): Promise<void> {
  let t0 = nowMs();
  await c.mount(true);
  record('mount-first', nowMs() - t0);
  const pid = c.daemonPid();
  const rss = pid !== undefined ? rssMib(pid) : undefined;
  if (rss !== undefined) record('rss-mounted', rss);
  await run('find', [c.root]);
  const rss2 = pid !== undefined ? rssMib(pid) : undefined;
  if (rss2 !== undefined) record('rss-listed', rss2);
  await c.unmount();
  dropCaches();
  t0 = nowMs();
  await c.mount(false);
  record('mount-again', nowMs() - t0);
  await c.unmount();
}

/** Creates the write sources once per run: small/ with n × 4 KiB files, and big.bin copied from bigSource. */
export function prepareWriteSources(dir: string, n: number, bigSource: string, seed: number): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'small'), { recursive: true });
  for (let i = 0; i < n; i++) {
    const name = `s${String(i).padStart(3, '0')}.bin`;
    writeFileSync(join(dir, 'small', name), contentStream(seed, `small/${name}`)(4096));
  }
  cpSync(bigSource, join(dir, 'big.bin'));
}
