// End to end: kill -9 of the daemon at random points of a random workload, on one cache folder, again and again.
// Nothing closed may be lost, no name may hold another version, no conflict copy may appear (nobody else writes), no
// deleted file may come back, and no operation may be refused on state that existed before a kill. The fixed-seed
// slice here runs in the test suite; `npm run reliability` runs a long one (SPFS_CRASH_CYCLES, SPFS_CRASH_SEED).
import { join } from 'node:path';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN } from '../helpers/admin-endpoint';
import { describeCounts, NO_PROBLEMS, runCrashLoop } from '../helpers/crash-loop';
import { describePart, newCounts } from '../helpers/reliability-counts';
import {
  assertE2EPrerequisites,
  forceCleanup,
  makeTempDir,
  startServerProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

// Seed 99's first ten cycles hit a folder delete racing a move out of it and creates whose reply a kill lost.
const SEED = Number(process.env['SPFS_CRASH_SEED'] ?? 99);
const CYCLES = Number(process.env['SPFS_CRASH_CYCLES'] ?? 10);
const MIB = 1024 * 1024;

describe('crash loop (SIGKILL of the daemon at random points, real mounts, child processes)', () => {
  let work: string;
  let server: ServerProcess | undefined;
  const track: string[] = [];

  beforeAll(() => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    work = makeTempDir('crash-loop');
  });

  afterAll(async () => {
    // SPFS_KEEP_WORK=1 keeps the folder (the daemon's log is in cache-crash/spfs.log).
    await forceCleanup(track, process.env['SPFS_KEEP_WORK'] ? [] : [work], server ? [server] : []);
    if (process.env['SPFS_KEEP_WORK']) console.log(`kept ${work}`);
  });

  it(
    `loses, changes and duplicates nothing over ${CYCLES} kills (seed ${SEED})`,
    async () => {
      // BITS from 4 MiB, so the large file of every fourth cycle is a multi-chunk session.
      server = await startServerProcess({
        dataDir: join(work, 'data'),
        extraArgs: [...ADMIN_ARGS, '--inline-threshold', '4M'],
      });
      const counts = await runCrashLoop({
        seed: SEED,
        cycles: CYCLES,
        server,
        adminToken: ADMIN_TOKEN,
        work,
        track,
        largeBytes: 24 * MIB,
      });
      const line = describeCounts(counts);
      console.log(line);
      // The reliability table's row: kills are crashes survived; a wrong version or a conflict copy nobody caused is
      // a mismatch; an operation refused on state from before a kill is an errno surprise.
      console.log(
        describePart({
          ...newCounts('crash-loop', SEED),
          operations: counts.operations,
          crashes: counts.kills,
          mismatches: counts.wrong + counts.conflicts + counts.unexpected,
          lost: counts.lost,
          errnoSurprises: counts.refused,
          extra: `${CYCLES} SIGKILLs of the daemon`,
        }),
      );
      const problems = counts.details.length > 0 ? `\n${counts.details.join('\n')}` : '';
      expect(`${line}${problems}`).toBe(describeCounts({ ...counts, ...NO_PROBLEMS, details: [] }));
      expect(counts.kills).toBe(CYCLES);
    },
    CYCLES * 30_000 + 120_000,
  );
});
