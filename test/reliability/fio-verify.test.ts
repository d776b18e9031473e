// Reliability part 2, integrity under load: fio writes files on a real mount with crc32c verification headers in every
// block (sequential and random writes, 4 jobs at once, reading each file back through the mount when done), the mount
// is unmounted (which uploads everything), and a mount on an EMPTY cache folder runs fio's verify-only pass, so every
// byte is read back from the server. Counts: bytes verified, mismatches (fio's verify failures), lost files (missing
// or short on the fresh mount), errno surprises (any other fio error), max daemon RSS.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cleanLine,
  describePart,
  newCounts,
  watchPeakRss,
  reliabilityScale,
  reliabilitySeed,
  replayHint,
  type PartCounts,
} from '../helpers/reliability-counts';
import {
  assertE2EPrerequisites,
  cleanupMounts,
  daemonPids,
  makeTempDir,
  mountUnder,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

const MIB = 1024 * 1024;
const FILE = 'test/reliability/fio-verify.test.ts';
const LONG = reliabilityScale() === 'long';
const SEED = reliabilitySeed(15_002);
/** EILSEQ: what fio reports for a block whose header or crc32c does not match (counted as a mismatch). */
const FIO_VERIFY_ERRNO = 84;

/** mulberry32: the job sizes come from the seed, so a replay writes the same layout. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface FioJob {
  name: string;
  rw: 'write' | 'randwrite';
  bytes: number;
}

/**
 * Four jobs, two sequential and two random writers. Sizes are whole MiB in [minMiB, maxMiB], log-uniform; with
 * `extremes` the first two jobs take the bounds themselves (the long run's 1 MiB and 256 MiB files).
 */
function planJobs(random: () => number, minMiB: number, maxMiB: number, extremes: boolean): FioJob[] {
  const pick = (): number => Math.round(Math.exp(Math.log(minMiB) + random() * Math.log(maxMiB / minMiB)));
  const sizes = [0, 1, 2, 3].map((i) =>
    extremes && i === 0 ? minMiB : extremes && i === 1 ? maxMiB : pick(),
  );
  return sizes.map((mib, i) => ({
    name: `${i % 2 === 0 ? 'seq' : 'rand'}${i}`,
    rw: i % 2 === 0 ? 'write' : 'randwrite',
    bytes: mib * MIB,
  }));
}

/**
 * What works on an spfs mount: buffered I/O (direct=0; FUSE without direct_io passes O_DIRECT through as a buffered
 * open) with psync, and no fallocate: spfs does not implement it, the kernel answers EOPNOTSUPP.
 */
function jobFile(dir: string, seed: number, jobs: FioJob[]): string {
  const global = [
    '[global]',
    'ioengine=psync',
    'direct=0',
    'fallocate=none',
    'verify=crc32c',
    'do_verify=1',
    'verify_fatal=0',
    'verify_dump=0',
    // Count every bad block instead of stopping the job at the first one.
    'continue_on_error=verify',
    `randseed=${seed}`,
    `directory=${dir}`,
    'end_fsync=1',
    // fio would write its verify state files into the current folder.
    'verify_state_save=0',
  ];
  const sections = jobs.map((j) =>
    [
      `[${j.name}]`,
      `rw=${j.rw}`,
      // Sequential jobs in large blocks, random ones in small mixed blocks (many partial-page writes).
      j.rw === 'write' ? 'bsrange=64k-1m' : 'bsrange=4k-256k',
      `size=${j.bytes}`,
    ].join('\n'),
  );
  return `${global.join('\n')}\n\n${sections.join('\n\n')}\n`;
}

interface FioResult {
  /** Bytes fio read back and checked. */
  readBytes: number;
  writeBytes: number;
  verifyErrors: number;
  /** Errors other than verification failures, as `job: errno`. */
  otherErrors: string[];
  stderr: string;
}

interface FioJson {
  jobs: Array<{
    jobname: string;
    error: number;
    total_err?: number;
    read: { io_bytes: number };
    write: { io_bytes: number };
  }>;
}

function runFio(jobPath: string, outPath: string, extra: string[]): Promise<FioResult> {
  return new Promise((res) => {
    execFile(
      'fio',
      [...extra, '--output-format=json', `--output=${outPath}`, jobPath],
      // A guard against a hang only; the long run writes about 1 GiB through the mount.
      { timeout: LONG ? 1_800_000 : 300_000, maxBuffer: 16 * MIB },
      (err, _stdout, stderr) => {
        let parsed: FioJson | undefined;
        try {
          parsed = JSON.parse(readFileSync(outPath, 'utf8')) as FioJson;
        } catch {
          parsed = undefined;
        }
        if (parsed === undefined) {
          res({
            readBytes: 0,
            writeBytes: 0,
            verifyErrors: 0,
            otherErrors: [`fio gave no report (${err?.message ?? 'no error'}): ${stderr.slice(0, 2000)}`],
            stderr,
          });
          return;
        }
        const otherErrors = parsed.jobs
          .filter((j) => j.error !== 0 && j.error !== FIO_VERIFY_ERRNO)
          .map((j) => `${j.jobname}: errno ${j.error}`);
        if (err && otherErrors.length === 0 && parsed.jobs.every((j) => j.error === 0))
          otherErrors.push(`fio exited with ${err.message}`);
        res({
          readBytes: parsed.jobs.reduce((s, j) => s + j.read.io_bytes, 0),
          writeBytes: parsed.jobs.reduce((s, j) => s + j.write.io_bytes, 0),
          verifyErrors: parsed.jobs.reduce(
            (s, j) => s + (j.error === FIO_VERIFY_ERRNO ? (j.total_err ?? 1) : 0),
            0,
          ),
          otherErrors,
          stderr,
        });
      },
    );
  });
}

/** Files fio made (`<job>.0.0`) that the fresh mount does not show at their full size. */
function lostFiles(dir: string, jobs: FioJob[]): string[] {
  const lost: string[] = [];
  for (const j of jobs) {
    const path = join(dir, `${j.name}.0.0`);
    try {
      const size = statSync(path).size;
      if (size !== j.bytes) lost.push(`${j.name}.0.0: ${size} of ${j.bytes} bytes`);
    } catch (e) {
      lost.push(`${j.name}.0.0: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  return lost;
}

describe('fio-verify: crc32c-verified fio writes on a mount read back whole from the server through a fresh cache', () => {
  let work: string;
  let server: ServerProcess;
  const mounts: MountProcess[] = [];

  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('fio-verify');
    mkdirSync(join(work, 'data'));
    server = await startServerProcess({ dataDir: join(work, 'data') });
  }, 60_000);

  afterAll(async () => {
    await cleanupMounts(mounts, [work], [server]);
  }, 300_000);

  /** One round: fio writes + verifies on mount `w`, unmount (uploads), verify-only on a fresh mount `r`. */
  async function round(
    counts: PartCounts,
    tag: string,
    jobs: FioJob[],
    adapter: string[],
    details: string[],
  ): Promise<number> {
    const jobPath = join(work, `${tag}.fio`);
    const writer = await mountUnder(server, work, `${tag}-w`, adapter);
    mounts.push(writer);
    const dir = join(writer.mountpoint, tag);
    mkdirSync(dir);
    writeFileSync(jobPath, jobFile(dir, SEED, jobs));
    const wRss = watchPeakRss(daemonPids(writer.cacheDir), 200);
    const wrote = await runFio(jobPath, join(work, `${tag}-write.json`), []);
    const unmounted = await writer.unmount();
    const writerPeak = wRss.stop();
    if (unmounted.code !== 0) details.push(`${tag}: unmount of the writer failed: ${unmounted.stderr}`);

    // The verify-only pass runs the same job file at the fresh mount's path.
    const reader = await mountUnder(server, work, `${tag}-r`, adapter);
    mounts.push(reader);
    const freshDir = join(reader.mountpoint, tag);
    writeFileSync(jobPath, jobFile(freshDir, SEED, jobs));
    const lost = lostFiles(freshDir, jobs);
    const rRss = watchPeakRss(daemonPids(reader.cacheDir), 200);
    const verified = await runFio(jobPath, join(work, `${tag}-verify.json`), ['--verify_only']);
    const readerPeak = rRss.stop();
    await reader.unmount();

    const total = jobs.reduce((s, j) => s + j.bytes, 0);
    counts.operations += 2 * jobs.length; // fio job runs: a write+verify and a verify-only per job
    counts.bytesVerified += wrote.readBytes + verified.readBytes;
    counts.mismatches += wrote.verifyErrors + verified.verifyErrors;
    counts.lost += lost.length;
    counts.errnoSurprises += wrote.otherErrors.length + verified.otherErrors.length;
    counts.maxRssBytes = Math.max(counts.maxRssBytes, writerPeak, readerPeak);
    if (wrote.writeBytes !== total) details.push(`${tag}: fio wrote ${wrote.writeBytes} of ${total} bytes`);
    // Every byte is read back twice: through the writing mount (do_verify), then from the server. Short of that,
    // something was not checked: counted as lost.
    for (const [what, r] of [
      ['write+verify', wrote],
      ['verify-only', verified],
    ] as const)
      if (r.readBytes !== total) {
        if (lost.length === 0) counts.lost++;
        details.push(`${tag}: ${what} read back ${r.readBytes} of ${total} bytes`);
      }
    details.push(...lost.map((l) => `${tag}: lost ${l}`));
    details.push(...[...wrote.otherErrors, ...verified.otherErrors].map((e) => `${tag}: ${e}`));
    if (wrote.verifyErrors + verified.verifyErrors > 0)
      details.push(
        `${tag}: fio's verify failures:\n${(wrote.stderr + verified.stderr)
          .split('\n')
          .filter((l) => l.startsWith('verify:') || l.includes('verify failed'))
          .slice(0, 20)
          .join('\n')}`,
      );
    return total;
  }

  async function runPart(part: string, adapter: string[], rounds: FioJob[][]): Promise<void> {
    const counts = newCounts(part, SEED);
    const details: string[] = [];
    let bytes = 0;
    for (const [i, jobs] of rounds.entries())
      bytes += await round(counts, `${part}-r${i}`, jobs, adapter, details);
    counts.extra = `${rounds.length} round(s) of 4 fio jobs (2 seq, 2 rand), ${(bytes / MIB).toFixed(0)} MiB written, read back through the mount and then from the server`;
    console.log(describePart(counts));
    const extraLines = details.length > 0 ? `\n${details.join('\n')}\n${replayHint(FILE, SEED)}` : '';
    expect(describePart(counts) + extraLines).toBe(cleanLine(counts));
  }

  it(
    `libfuse3: every block fio wrote reads back from the server intact (seed ${SEED})`,
    async () => {
      const random = prng(SEED);
      const rounds = LONG
        ? [planJobs(random, 1, 256, true), planJobs(random, 1, 256, false), planJobs(random, 1, 256, false)]
        : [planJobs(random, 4, 16, false)];
      await runPart('fio-verify', ['--fuse', '3'], rounds);
    },
    LONG ? 3_600_000 : 180_000,
  );

  it(
    `fuse-native: a smaller slice, same checks (seed ${SEED})`,
    async () => {
      const random = prng(SEED + 1);
      const rounds = LONG ? [planJobs(random, 1, 64, true)] : [planJobs(random, 1, 4, false)];
      await runPart('fio-verify-fuse2', ['--fuse', '2'], rounds);
    },
    LONG ? 1_800_000 : 120_000,
  );
});
