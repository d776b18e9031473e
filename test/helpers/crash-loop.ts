// The crash loop: mount on one cache folder, run a random workload, SIGKILL the daemon at a random point while its
// uploads are in flight (a batch, a BITS session, a re-key, a folder move), detach, mount again on the same cache,
// and compare what the mount shows with a model of what was closed; at the end flush, and compare a fresh mount with
// an empty cache (the server's view). Counts what a user would call lost, wrong, or a conflict nobody caused.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminPost } from './admin-endpoint';
import { RandomWorkload, Rng } from './random-workload';
import {
  daemonPids,
  isMounted,
  mountUnder,
  processAlive,
  runSpfs,
  waitForExit,
  type MountProcess,
  type ServerProcess,
} from './spfs-processes';
import { compareTree, TreeModel, type TreeDiff } from './tree-model';

export interface CrashLoopOptions {
  seed: number;
  cycles: number;
  server: ServerProcess;
  adminToken: string;
  work: string;
  /** Mountpoints go here before mounting, so the caller's cleanup finds them. */
  track: string[];
  /** Size of the file written every fourth cycle (above the server's inline threshold: a BITS upload). */
  largeBytes: number;
}

export interface CrashLoopCounts {
  seed: number;
  cycles: number;
  operations: number;
  kills: number;
  lost: number;
  wrong: number;
  conflicts: number;
  unexpected: number;
  refused: number;
  /** What went wrong, for the failure message (which cycle, which path, which operation). */
  details: string[];
}

/** The counts of a clean run: what the test expects. */
export const NO_PROBLEMS = { lost: 0, wrong: 0, conflicts: 0, unexpected: 0, refused: 0 } as const;

export function describeCounts(c: CrashLoopCounts): string {
  return (
    `crash loop seed ${c.seed}: ${c.cycles} cycles, ${c.operations} operations, ${c.kills} kills: ` +
    `${c.lost} lost, ${c.wrong} wrong, ${c.conflicts} conflict copies nobody caused, ` +
    `${c.unexpected} unexpected, ${c.refused} refused`
  );
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runCrashLoop(o: CrashLoopOptions): Promise<CrashLoopCounts> {
  const rng = new Rng(o.seed);
  const model = new TreeModel();
  let mount: MountProcess | undefined;
  const workload = new RandomWorkload(rng, model, () => (mount as MountProcess).mountpoint);
  const port = new URL(o.server.url).port;
  const counts: CrashLoopCounts = {
    seed: o.seed,
    cycles: o.cycles,
    operations: 0,
    kills: 0,
    ...NO_PROBLEMS,
    details: [],
  };
  // One problem is counted once even when several checks see it.
  const seen = new Set<string>();
  const record = (when: string, d: TreeDiff): void => {
    const add = (kind: 'lost' | 'wrong' | 'conflicts' | 'unexpected', paths: string[]): void => {
      for (const p of paths) {
        const key = `${kind}:${p.split(' (')[0] ?? p}`;
        if (seen.has(key)) continue;
        seen.add(key);
        counts[kind]++;
        counts.details.push(`${when}: ${kind} ${p}`);
      }
    };
    add('lost', d.lost);
    add('wrong', d.wrong);
    add('conflicts', d.conflicts);
    add('unexpected', d.unexpected);
  };

  const mountAgain = async (name: string, writeBack: string): Promise<MountProcess> =>
    mountUnder(
      o.server,
      o.work,
      name,
      [
        '--write-back',
        writeBack,
        '--poll-interval',
        '1',
        ...(process.env['SPFS_KEEP_WORK'] ? ['--log-level', 'debug'] : []),
      ],
      o.track,
    );

  for (let cycle = 0; cycle < o.cycles; cycle++) {
    workload.cycle = cycle;
    mount = await mountAgain('crash', rng.pick(['0', '0.05', '0.2']));
    if (cycle > 0) record(`after restart ${cycle}`, await compareTree(mount.mountpoint, model));
    // A third of the cycles slow the server's writes, so more kills land while an upload is on the wire.
    if (rng.chance(0.33)) {
      await adminPost(port, o.adminToken, '/faults', {
        kind: 'latency',
        delayMs: rng.int(50, 300),
        method: 'POST',
        forMs: 3000,
      });
    }
    const n = rng.int(10, 30);
    const before = workload.log.length;
    let failed = await workload.run(n);
    const large = cycle % 4 === 3;
    if (large && !(await workload.writeLarge(o.largeBytes))) failed++;
    counts.operations += workload.log.length - before;
    if (failed > 0) {
      counts.refused += failed;
      for (const r of workload.log.slice(before).filter((x) => x.error !== undefined)) {
        counts.details.push(`cycle ${cycle}: refused ${r.op}: ${r.error}`);
      }
    }
    await sleep(rng.int(0, large ? 2500 : 400));
    await killDaemon(mount);
    counts.kills++;
  }

  // Settle: one more mount flushes everything; what it shows and what the server has must both match.
  mount = await mountAgain('crash', '0');
  record('after the last restart', await compareTree(mount.mountpoint, model));
  const flush = await runSpfs(['flush', mount.mountpoint], stateEnv(mount));
  if (flush.code !== 0) counts.details.push(`spfs flush exited ${flush.code}: ${flush.stderr.trim()}`);
  record('after flush', await compareTree(mount.mountpoint, model));
  const un = await mount.unmount();
  if (un.code !== 0) counts.details.push(`spfs unmount exited ${un.code}: ${un.stderr.trim()}`);
  const fresh = await mountUnder(o.server, o.work, 'fresh', [], o.track);
  record('fresh mount, empty cache', await compareTree(fresh.mountpoint, model));
  await fresh.unmount();
  if (process.env['SPFS_KEEP_WORK']) {
    const lines = workload.log.map((r) => `${r.cycle}\t${r.op}${r.error ? `\t${r.error}` : ''}`);
    writeFileSync(join(o.work, 'ops.log'), `${lines.join('\n')}\n`);
  }
  // The history of the first problems' names, to read with the daemon's log.
  const names = [...seen].slice(0, 4).map((k) => k.replace(/\/$/, '').split('/').pop() ?? k);
  for (const name of names) {
    const ops = workload.log.filter((r) => r.op.split(/[ /]/).includes(name));
    counts.details.push(
      `history of ${name}:`,
      ...ops.map((r) => `  cycle ${r.cycle}: ${r.op}${r.error ? ` (${r.error})` : ''}`),
    );
  }
  return counts;
}

const stateEnv = (m: MountProcess): NodeJS.ProcessEnv => ({
  SPFS_STATE_DIR: join(m.cacheDir, '..', 'state'),
});

/** SIGKILL of the daemon (no chance to flush or unmount), then the lazy detach a user would do. */
export async function killDaemon(m: MountProcess): Promise<void> {
  const pids = daemonPids(m.cacheDir);
  if (pids.length === 0) throw new Error(`no daemon found for ${m.cacheDir}`);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  await waitForExit(pids, 10_000);
  if (pids.some(processAlive)) throw new Error(`daemon ${pids.join(',')} survived SIGKILL`);
  if (isMounted(m.mountpoint)) execFileSync('fusermount', ['-u', '-z', m.mountpoint], { stdio: 'ignore' });
}
