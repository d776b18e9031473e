// End to end: two mounts of one library (two caches, as two machines). A rewrites in place, appends to and saves by
// rename-over three files, in bursts; B polls them from a separate process, opening each file afresh every time.
// Every content B ever reads must be exactly one version A closed (never empty, torn or half-appended), and each
// burst's last version must arrive. For each --write-back value the close → first-seen-on-B latency is printed (speed
// is measured, not asserted; docs/BENCHMARKS.md has the figures).
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { eventually, readOr } from '../helpers/eventually';
import {
  assertE2EPrerequisites,
  cleanupMounts,
  makeTempDir,
  mountUnder,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

const WRITE_BACKS_S = [0, 0.2, 1, 3];
const ROUNDS = 4;
/** Operations per file and round, back to back: intermediate versions may be skipped, never torn. */
const BURST = 3;
/** Only a guard against hangs: a version that never arrives fails the test. */
const ARRIVE_MS = 30_000;

type Op = 'rewrite' | 'append' | 'rename-over';
/** `scale`: a big file keeps its upload (and its reading of the local copy) running while A writes the next version. */
const FILES: ReadonlyArray<{ name: string; op: Op; scale: number }> = [
  { name: 'rewrite.txt', op: 'rewrite', scale: 1 },
  { name: 'append.txt', op: 'append', scale: 1 },
  { name: 'renamed.txt', op: 'rename-over', scale: 1 },
  { name: 'big.txt', op: 'rewrite', scale: 300 },
  { name: 'big-renamed.txt', op: 'rename-over', scale: 300 },
];
/** Pause between the operations of a burst: 0, 15, 30 ms, so some land while the previous version uploads. */
const GAP_MS = 15;

/** Version k of a file: its own line repeated, a different length per version, so a reader can tell which it got. */
function lines(tag: string, name: string, k: number, scale: number): string {
  return `${tag}${k} ${name}\n`.repeat((20 + ((k * 7) % 50) + k) * scale);
}

/**
 * B's reader, a separate process so its reads run while A writes: every file every few ms, opened afresh each time;
 * prints one JSON line whenever what it reads changes (its content, or the error code).
 */
const POLLER = `
const fs = require('node:fs');
const paths = process.argv.slice(1);
const last = paths.map(() => undefined);
let stop = false;
process.on('SIGTERM', () => { stop = true; });
const tick = () => {
  if (stop) return process.exit(0);
  paths.forEach((p, i) => {
    let seen;
    try { seen = { c: fs.readFileSync(p, 'utf8') }; } catch (e) { seen = { err: e.code }; }
    const key = seen.err !== undefined ? '!' + seen.err : seen.c;
    if (key === last[i]) return;
    last[i] = key;
    process.stdout.write(JSON.stringify({ t: Date.now(), i, ...seen }) + '\\n');
  });
  setTimeout(tick, 2);
};
tick();
`;

interface Seen {
  t: number;
  i: number;
  c?: string;
  err?: string;
}

interface Poller {
  seen: Seen[];
  /** When B first read `content` of file i, or undefined. */
  firstSeen(i: number, content: string): number | undefined;
  stop(): Promise<void>;
}

function startPoller(paths: string[], children: ChildProcess[]): Poller {
  const child = spawn(process.execPath, ['-e', POLLER, ...paths], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const seen: Seen[] = [];
  const first = new Map<string, number>();
  createInterface({ input: child.stdout }).on('line', (l) => {
    const s = JSON.parse(l) as Seen;
    seen.push(s);
    const key = `${s.i}\0${s.c ?? `!${s.err}`}`;
    if (!first.has(key)) first.set(key, s.t);
  });
  return {
    seen,
    firstSeen: (i, content) => first.get(`${i}\0${content}`),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** What a read that matched no closed version looks like, for the failure message. */
function describeBad(s: Seen, versions: readonly string[]): string {
  if (s.err !== undefined) return `error ${s.err}`;
  const c = s.c ?? '';
  if (c.length === 0) return 'empty';
  const prefixOf = versions.findIndex((v) => v.startsWith(c));
  if (prefixOf >= 0)
    return `a truncated version ${prefixOf} (${c.length} of ${versions[prefixOf]!.length} bytes)`;
  return `torn: ${c.length} bytes: ${runs(c)}`;
}

/** A content as runs of equal lines ("v3 a.txt×40, v2 a.t×1"), to show which versions a torn read mixes. */
function runs(c: string): string {
  const out: string[] = [];
  let prev: string | undefined;
  let n = 0;
  for (const l of c.split('\n')) {
    if (l === prev) n++;
    else {
      if (prev !== undefined) out.push(`${JSON.stringify(prev.slice(0, 24))}×${n}`);
      prev = l;
      n = 1;
    }
  }
  if (prev !== undefined) out.push(`${JSON.stringify(prev.slice(0, 24))}×${n}`);
  return out.length > 6 ? `${out.slice(0, 6).join(', ')}, … (${out.length} runs)` : out.join(', ');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
}

describe('two mounts: B reads only whole versions of what A rewrites, appends and renames over', () => {
  let work: string;
  let server: ServerProcess;
  const mounts: MountProcess[] = [];
  const children: ChildProcess[] = [];
  const report: string[] = [];

  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('two-mounts');
    mkdirSync(join(work, 'data'));
    server = await startServerProcess({ dataDir: join(work, 'data') });
  }, 60_000);

  afterAll(async () => {
    for (const c of children)
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await exited;
      }
    await cleanupMounts(mounts, [work], [server]);
    if (report.length > 0) console.log(report.join('\n'));
  }, 120_000);

  it.each(WRITE_BACKS_S)(
    '--write-back %p: B sees only closed versions, and the last one of each burst',
    async (wb) => {
      const tag = `wb${String(wb).replace('.', '_')}`;
      const a = await mountUnder(server, work, `a-${tag}`, ['--write-back', String(wb)]);
      mounts.push(a);
      // B's own write-back does not matter; its poll interval does when the notification channel is down.
      const b = await mountUnder(server, work, `b-${tag}`, ['--poll-interval', '1']);
      mounts.push(b);
      const dirA = join(a.mountpoint, tag);
      const dirB = join(b.mountpoint, tag);
      mkdirSync(dirA);

      // Every version A ever closed, per file (index = FILES index); version 0 is there before B starts reading.
      const versions: string[][] = FILES.map(({ name, scale }) => [lines('v', name, 0, scale)]);
      FILES.forEach(({ name }, i) => writeFileSync(join(dirA, name), versions[i]![0]!));
      for (const [i, { name }] of FILES.entries())
        await eventually(
          () => (readOr(join(dirB, name)) === versions[i]![0] ? true : undefined),
          `${name} version 0 on B`,
          ARRIVE_MS,
        );

      const poller = startPoller(
        FILES.map(({ name }) => join(dirB, name)),
        children,
      );
      const latencies: number[] = [];
      try {
        let k = 0;
        for (let round = 0; round < ROUNDS; round++) {
          const closedAt: number[] = [];
          for (let n = 0; n < BURST; n++) {
            k++;
            if (n > 0) await new Promise((r) => setTimeout(r, GAP_MS * (n + round - 1)));
            for (const [i, { name, op, scale }] of FILES.entries()) {
              const file = join(dirA, name);
              const list = versions[i]!;
              if (op === 'rewrite') {
                list.push(lines('v', name, k, scale));
                writeFileSync(file, list[list.length - 1]!); // open(O_TRUNC), write, close
              } else if (op === 'append') {
                const more = lines('a', name, k, scale);
                list.push(list[list.length - 1]! + more);
                appendFileSync(file, more);
              } else {
                list.push(lines('v', name, k, scale));
                const tmp = join(dirA, `${name}.new`); // an editor's save: new file, renamed over the original
                writeFileSync(tmp, list[list.length - 1]!);
                renameSync(tmp, file);
              }
              closedAt[i] = Date.now();
            }
          }
          for (const [i, { name }] of FILES.entries()) {
            const last = versions[i]![versions[i]!.length - 1]!;
            const t = await eventually(
              () => poller.firstSeen(i, last),
              `${name} round ${round} (${last.length} bytes) on B`,
              ARRIVE_MS + wb * 1000,
              10,
            );
            latencies.push(t - closedAt[i]!);
          }
        }
      } finally {
        await poller.stop();
      }

      const bad = poller.seen
        .filter((s) => s.err !== undefined || !versions[s.i]!.includes(s.c ?? ''))
        .map((s) => `${FILES[s.i]!.name}: ${describeBad(s, versions[s.i]!)}`);
      const boundMs = wb * 1000 + 1000;
      report.push(
        `two mounts, --write-back ${wb}: close → first read on B over ${latencies.length} versions: ` +
          `median ${median(latencies)} ms, max ${Math.max(...latencies)} ms ` +
          `(settle + 1 s = ${boundMs} ms, ${latencies.filter((l) => l > boundMs).length} over); ` +
          `${poller.seen.length} distinct reads, ${bad.length} not a closed version`,
      );
      expect(bad).toEqual([]);
    },
    180_000,
  );
});
