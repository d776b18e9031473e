// `npm run bench [-- --quick] [--reps N] [--seed N] [--only a,b]`: generates the data set, runs every session for
// every contender (alternating contenders within each repetition), and writes bench/results/<date>-<commit>.{md,json,svg}.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import {
  bindfsContender,
  CONTENDER_IDS,
  localContender,
  rcloneContender,
  ROOT,
  SPFS_ROOT,
  spfsContender,
  type Contender,
  type RemoteOp,
  type ContenderId,
} from './contenders';
import {
  bigName,
  generateDataset,
  generateLibrary,
  treeLayout,
  type DatasetSpec,
  type LibrarySpec,
} from './dataset';
import { renderPlot } from './plot';
import { formatReport, makeCell, type BenchResult, type MetricResult } from './report';
import { cpuMs, dropCaches, nowMs, Registry, versionOf } from './sys';
import {
  mountReadiness,
  prepareWriteSources,
  remoteChangeLatencies,
  SESSIONS,
  type Metric,
} from './workloads';

interface Args {
  quick: boolean;
  reps: number;
  seed: number;
  only: ContenderId[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, reps: 3, seed: 42, only: [...CONTENDER_IDS] };
  let onlyGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--quick') a.quick = true;
    else if (v === '--reps') a.reps = Math.max(3, Number(argv[++i]));
    else if (v === '--seed') a.seed = Number(argv[++i]);
    else if (v === '--only') {
      a.only = (argv[++i] ?? '').split(',') as ContenderId[];
      onlyGiven = true;
    } else throw new Error(`unknown argument ${v} (use --quick, --reps N, --seed N, --only a,b)`);
  }
  // The quick run keeps the contenders the ratios are about (bindfs, rclone, local); the tuned bindfs variant
  // only adds run time there.
  if (a.quick && !onlyGiven) a.only = a.only.filter((id) => id !== 'bindfs-tuned');
  return a;
}

const mib = (n: number): string => (n >= 1024 ? `${n / 1024} GiB` : `${n} MiB`);

function metricList(spec: DatasetSpec, lib: LibrarySpec, changes: number, small: number): Metric[] {
  const [a, b] = spec.bigMib.map(mib) as [string, string];
  const items = lib.folders * (1 + lib.filesPerFolder);
  const m = (id: string, label: string, unit: string, better: 'higher' | 'lower'): Metric => ({
    id,
    label,
    unit,
    better,
  });
  return [
    m('read-cold-a', `cold sequential read ${a}`, 'MB/s', 'higher'),
    m('read-cold-b', `cold sequential read ${b}`, 'MB/s', 'higher'),
    m('ttfb-1m', 'time to first byte, cold 1 MiB file', 'ms', 'lower'),
    m('ttfb-a', `time to first byte, cold ${a} file`, 'ms', 'lower'),
    m('ttfb-b', `time to first byte, cold ${b} file`, 'ms', 'lower'),
    m('read-warm-a', `warm re-read ${a}`, 'MB/s', 'higher'),
    m('read-warm-b', `warm re-read ${b}`, 'MB/s', 'higher'),
    m('rand-iops', `random 4 KiB reads (fio, hydrated ${a})`, 'IOPS', 'higher'),
    m('rand-p99', 'random 4 KiB reads, p99 latency', 'µs', 'lower'),
    m('mid-cold', `cold read of ${spec.midCount} × 1 MiB files`, 'files/s', 'higher'),
    m('mid-cold-mbps', `cold read of ${spec.midCount} × 1 MiB files`, 'MB/s', 'higher'),
    m('find-cold', `find, ${spec.treeFiles.toLocaleString('en-US')}-file tree, just mounted`, 'ms', 'lower'),
    m('find-warm', 'find, same tree, warm', 'ms', 'lower'),
    m('ls-cold', 'ls -lR, same tree, just mounted', 'ms', 'lower'),
    m('ls-warm', 'ls -lR, same tree, warm', 'ms', 'lower'),
    m('stat-cold', 'stat of every file, just mounted', 'ms', 'lower'),
    m('stat-warm', 'stat of every file, warm', 'ms', 'lower'),
    m(
      'mount-first',
      `mount until the root lists, ${items.toLocaleString('en-US')} items, first mount`,
      'ms',
      'lower',
    ),
    m('mount-again', 'mount until the root lists, remount', 'ms', 'lower'),
    m('rss-mounted', 'daemon RSS after mount', 'MiB', 'lower'),
    m('rss-listed', 'daemon RSS after listing everything', 'MiB', 'lower'),
    m('write-small-cp', `write ${small} × 4 KiB (cp), until cp returns`, 'ms', 'lower'),
    m('write-small-server', `write ${small} × 4 KiB, until all are on the server`, 'ms', 'lower'),
    m('write-big-close', `write one ${a} file, until close`, 'ms', 'lower'),
    m('write-big-server', `write one ${a} file, until uploaded`, 'ms', 'lower'),
    m('remote-change', `remote create visible through the mount (median of ${changes})`, 'ms', 'lower'),
    m('remote-edit', `remote edit of a file just read, new bytes read through the mount`, 'ms', 'lower'),
    m('remote-delete', `remote delete of a file just read, gone through the mount`, 'ms', 'lower'),
    ...SESSIONS.map((s) => m(cpuMetricId(s), `CPU, daemon + server: ${s.name}`, 'ms', 'lower')),
  ];
}

const cpuMetricId = (s: { name: string }): string => `cpu-${s.name}`;

type MeteredContender = Contender & {
  /** CPU the contender's own processes (mount daemons, server) have used since it was made, in ms. */
  cpuSpentMs(): number;
};

/**
 * Counts the CPU of a contender's processes from /proc: each daemon's total is taken just before it is unmounted
 * (it is gone after), the server's and a live daemon's are read when asked.
 */
function withCpuMeter(c: Contender): MeteredContender {
  let ended = 0;
  const live = (): number => {
    const d = c.daemonPid();
    const s = c.serverPid();
    return (d === undefined ? 0 : (cpuMs(d) ?? 0)) + (s === undefined ? 0 : (cpuMs(s) ?? 0));
  };
  const unmount = c.unmount.bind(c);
  return Object.assign(c, {
    unmount: async (): Promise<void> => {
      const d = c.daemonPid();
      if (d !== undefined) ended += cpuMs(d) ?? 0;
      await unmount();
    },
    cpuSpentMs: () => ended + live(),
  });
}

function machineFacts(dropOk: boolean): Record<string, string> {
  const cpu = cpus();
  const memGiB = (totalmem() / 2 ** 30).toFixed(1);
  return {
    CPU: `${cpu.length} × ${cpu[0]?.model ?? 'unknown'}`,
    memory: `${memGiB} GiB`,
    kernel: release(),
    node: process.version,
    bindfs: versionOf('bindfs', ['--version']),
    rclone: versionOf('rclone', ['version']),
    fio: versionOf('fio', ['--version']),
    fuse: versionOf('fusermount', ['-V']),
    'spfs commit': commit(),
    'page cache drop between cold runs': dropOk
      ? 'yes (sync; echo 3 > /proc/sys/vm/drop_caches)'
      : 'NOT possible here',
  };
}

function commit(): string {
  try {
    const c = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: SPFS_ROOT,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], {
      cwd: SPFS_ROOT,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${c}-dirty` : c;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const q = args.quick;
  const spec: DatasetSpec = {
    bigMib: q ? [64, 128] : [256, 1024],
    midCount: q ? 20 : 100,
    treeFiles: q ? 1000 : 10000,
    treeTopFolders: q ? 4 : 20,
    treeLeafFolders: q ? 5 : 10,
  };
  const lib: LibrarySpec = { folders: q ? 20 : 1000, filesPerFolder: 99, fileBytes: 64 };
  const smallWrites = q ? 100 : 500;
  const changes = 20;
  const base = process.env.SPFS_BENCH_DIR ?? '/tmp/spfs-bench';
  const work = join(base, `run-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const reg = new Registry(join(base, 'started.txt'));
  let stopping = false;
  const onSignal = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\nbench: ${sig}: tearing down mounts and servers\n`);
    void reg.cleanup().finally(() => {
      rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  const say = (s: string): void => void process.stderr.write(`bench: ${s}\n`);
  const t0 = nowMs();
  const notes: string[] = [];
  try {
    const dropOk = dropCaches();
    if (!dropOk)
      notes.push('The page cache could NOT be dropped (needs root): "cold" runs may be served from memory.');
    const data = join(base, q ? 'data-quick' : 'data-full');
    say(`data set in ${data} (seed ${args.seed})`);
    const gen = generateDataset(data, spec, args.seed);
    const libDir = join(base, q ? 'library-quick' : 'library-full');
    const genLib = generateLibrary(libDir, lib, args.seed);
    say(`data set ${gen.reused ? 'reused' : 'generated'}, library ${genLib.reused ? 'reused' : 'generated'}`);
    const treeFiles = treeLayout(spec, args.seed).map((f) => f.path);
    const writeSrc = join(work, 'write-src');
    prepareWriteSources(writeSrc, smallWrites, join(data, bigName(spec.bigMib[0])), args.seed);

    const make = (id: ContenderId, src: string, w: string, tag: string): Contender =>
      id === 'local'
        ? localContender(src)
        : id === 'bindfs' || id === 'bindfs-tuned'
          ? bindfsContender(src, w, reg, id === 'bindfs-tuned')
          : id === 'rclone'
            ? rcloneContender(src, w, reg)
            : spfsContender(src, w, reg, tag, id);
    const contenders = args.only.map((id) => withCpuMeter(make(id, data, work, 'data')));
    const metrics = metricList(spec, lib, changes, smallWrites);
    const samples = new Map<string, number[]>();
    const failures = new Map<string, string[]>();
    const skipped = new Map<string, string>();
    const key = (m: string, c: string): string => `${m}\u0000${c}`;
    const push = <T>(map: Map<string, T[]>, k: string, v: T): void =>
      void map.set(k, [...(map.get(k) ?? []), v]);

    for (const c of contenders) {
      const s0 = nowMs();
      await c.start();
      say(`${c.id}: started in ${Math.round(nowMs() - s0)} ms`);
    }
    for (let rep = 1; rep <= args.reps; rep++) {
      for (const session of SESSIONS) {
        // Rotate the order every repetition so no contender always runs first (or right after another).
        const order = contenders.map((_, i) => contenders[(i + rep - 1) % contenders.length]!);
        for (const c of order) {
          say(`rep ${rep}/${args.reps} ${session.name}: ${c.id}`);
          const ctx = {
            spec,
            treeFiles,
            writeSrc,
            smallWrites,
            bigWriteMib: spec.bigMib[0],
            fioSeconds: q ? 1 : 5,
            rep,
            record: (m: string, v: number) => push(samples, key(m, c.id), v),
            skip: (m: string, why: string) => void skipped.set(key(m, c.id), why),
          };
          const cpu0 = c.cpuSpentMs();
          let failed = false;
          try {
            await session.run(c, ctx);
          } catch (err) {
            failed = true;
            const msg = err instanceof Error ? err.message : String(err);
            say(`  failed: ${msg}`);
            for (const m of session.metrics) push(failures, key(m, c.id), `rep ${rep}: ${msg}`);
          } finally {
            await c.unmount().catch((e: unknown) => say(`  unmount failed: ${String(e)}`));
          }
          if (!failed && c.id !== 'local')
            push(samples, key(cpuMetricId(session), c.id), c.cpuSpentMs() - cpu0);
          else if (c.id === 'local')
            skipped.set(key(cpuMetricId(session), c.id), 'n/a (no process of its own)');
        }
      }
    }

    say('remote-change latency');
    const remoteMetrics: ReadonlyArray<[RemoteOp, string]> = [
      ['create', 'remote-change'],
      ['edit', 'remote-edit'],
      ['delete', 'remote-delete'],
    ];
    for (const c of contenders) {
      const keys = remoteMetrics.map(([, m]) => key(m, c.id));
      if (!c.remote) for (const k of keys) skipped.set(k, 'n/a (no server behind it)');
      else if (c.remoteChange === undefined)
        for (const k of keys)
          skipped.set(k, 'not supported yet (no way to change its server as another user)');
      else {
        try {
          const r = await remoteChangeLatencies(c, changes, q ? 5000 : 15000);
          for (const [op, m] of remoteMetrics) {
            samples.set(key(m, c.id), r.samples[op]);
            if (r.error !== undefined) push(failures, key(m, c.id), r.error);
          }
        } catch (err) {
          for (const k of keys) push(failures, k, String(err));
        } finally {
          await c.unmount().catch(() => undefined);
        }
      }
    }
    for (const c of contenders) await c.stop();

    say(`mount readiness over ${lib.folders * (1 + lib.filesPerFolder)} items`);
    const libWork = join(work, 'lib');
    mkdirSync(libWork, { recursive: true });
    const libContenders = args.only
      .filter((id) => id !== 'local')
      .map((id) => make(id, libDir, libWork, 'lib'));
    for (const id of args.only.filter((i) => i === 'local'))
      for (const m of ['mount-first', 'mount-again', 'rss-mounted', 'rss-listed'])
        skipped.set(key(m, id), 'n/a (nothing to mount)');
    for (const c of libContenders) {
      const s0 = nowMs();
      await c.start();
      notes.push(
        `${c.id} server start over the ${lib.folders * (1 + lib.filesPerFolder)}-item library: ${Math.round(nowMs() - s0)} ms.`,
      );
    }
    for (let rep = 1; rep <= args.reps; rep++) {
      const order = libContenders.map((_, i) => libContenders[(i + rep - 1) % libContenders.length]!);
      for (const c of order) {
        say(`rep ${rep}/${args.reps} mount readiness: ${c.id}`);
        try {
          await mountReadiness(c, (m, v) => push(samples, key(m, c.id), v));
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          say(`  failed: ${msg}`);
          for (const m of ['mount-first', 'mount-again', 'rss-mounted', 'rss-listed'])
            push(failures, key(m, c.id), `rep ${rep}: ${msg}`);
        } finally {
          await c.unmount().catch(() => undefined);
        }
      }
    }
    for (const c of libContenders) await c.stop();

    const ids = contenders.map((c) => c.id as string);
    const results: MetricResult[] = metrics.map((m) => ({
      ...m,
      cells: Object.fromEntries(
        ids.map((c) => [
          c,
          makeCell(
            samples.get(key(m.id, c)) ?? [],
            failures.get(key(m.id, c)) ?? [],
            skipped.get(key(m.id, c)),
          ),
        ]),
      ),
    }));
    notes.push(
      `Cold = fresh mount with an empty cache (spfs: new --cache-dir; rclone: new --cache-dir and mount; bindfs: new mount) and the page cache dropped right before the operation; warm = the same operation again on the same mount (listings after a ${1.2} s pause so FUSE's default 1 s attr/entry cache has expired).`,
      'spfs runs on its default FUSE adapter (libfuse3 low-level, 1 MiB requests, readdirplus, 60 s kernel caches invalidated by the change feed); spfs-fuse2 is the same build on the fuse-native fallback (libfuse 2, 128 KiB requests, 1 s caches). "spfs/spfs-fuse2" is the ratio between the two.',
      "CPU rows: user + system time of the contender's own processes during the session (mount daemons, each read just before its unmount, plus the server spfs or rclone runs behind the mount), from /proc; the programs doing the reads and writes are not counted.",
      'Random reads: fio psync, 4 KiB, one job, --invalidate=0 (the page cache is left as the warm re-read left it, so each contender shows its own caching).',
      'Reads are timed inside the harness (1 MiB read() calls, open to close); find and ls -lR are timed as child processes (output discarded).',
      'rclone writes back to its server 5 s after close by default (--vfs-write-back 5s): that delay is part of its "until on the server" figures.',
      `Total run time: ${Math.round((nowMs() - t0) / 1000)} s.`,
    );
    const date = new Date().toISOString().slice(0, 10);
    const result: BenchResult = {
      date,
      commit: commit(),
      quick: q,
      seed: args.seed,
      reps: args.reps,
      machine: machineFacts(dropOk),
      dataset: {
        seed: args.seed,
        'big files': spec.bigMib.map(mib).join(', '),
        'many files': `${spec.midCount} × 1 MiB`,
        tree: `${spec.treeFiles} files of 1–4 KiB in ${spec.treeTopFolders * spec.treeLeafFolders} folders`,
        library: `${lib.folders} folders × ${lib.filesPerFolder} files of ${lib.fileBytes} B (${lib.folders * (1 + lib.filesPerFolder)} items), a seed folder for every contender`,
        writes: `${smallWrites} × 4 KiB files, one ${mib(spec.bigMib[0])} file`,
      },
      contenders: ids,
      metrics: results,
      notes,
    };
    const outDir = join(ROOT, 'bench', 'results');
    mkdirSync(outDir, { recursive: true });
    const name = `${date}-${result.commit}${q ? '-quick' : ''}`;
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
    writeFileSync(
      join(outDir, `${name}.svg`),
      renderPlot(result, { mid: '1 MiB', a: mib(spec.bigMib[0]), b: mib(spec.bigMib[1]) }),
    );
    writeFileSync(join(outDir, `${name}.md`), formatReport(result, `${name}.svg`));
    say(`wrote bench/results/${name}.md (.json, .svg) in ${Math.round((nowMs() - t0) / 1000)} s`);
    process.stdout.write(readFileSync(join(outDir, `${name}.md`), 'utf8'));
  } finally {
    await reg.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
