// Reliability part 1, the fault storm: a real `spfs serve` and a real libfuse3 mount, a mixed workload (writes,
// renames, deletes, folders, reads and listings checked against a model, reads of seeded files over the network)
// while the server's fault injection cycles through 429 and 503 with Retry-After, resets before and in the middle
// of a body, a stall longer than the client's 30 s request timeout, truncated bodies, malformed XML, forced ETag
// conflicts, ResyncNeeded, and SIGKILL of the server (restarted on the same data folder and port). Asserts: every
// errno is one docs/SEMANTICS.md lists for the operation (test/helpers/fault-storm.ts, NETWORK_ERRNOS); after the
// faults, flush, and a fresh mount with an empty cache shows exactly the model — nothing lost, nothing duplicated,
// and no conflict copy (a forced conflict hits an update whose server version is our own earlier upload, which
// the uploader must recognise by its identity and rebase on, as after a lost reply); no request arrives before a
// Retry-After expired. The short slice injects faults for 30 s (the stall's length); SPFS_RELIABILITY=long for 10 minutes
// (SPFS_STORM_SECONDS to choose).
import { ADMIN_ENV, ADMIN_TOKEN } from '../helpers/admin-endpoint';
import { describeHits, runStorm } from '../helpers/fault-storm';
import {
  cleanLine,
  describePart,
  reliabilityScale,
  reliabilitySeed,
  replayHint,
} from '../helpers/reliability-counts';
import {
  assertE2EPrerequisites,
  forceCleanup,
  freePort,
  makeTempDir,
  type ServerProcess,
} from '../helpers/spfs-processes';

const SEED = reliabilitySeed(15_001);
const LONG = reliabilityScale() === 'long';
const FAULT_SECONDS = Number(process.env['SPFS_STORM_SECONDS'] ?? (LONG ? 600 : 30));
const MIB = 1024 * 1024;

describe('fault storm (real server with fault injection and SIGKILL, real libfuse3 mount)', () => {
  let work: string;
  const servers: ServerProcess[] = [];
  const track: string[] = [];

  beforeAll(() => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    work = makeTempDir('fault-storm');
  });

  afterAll(async () => {
    await forceCleanup(track, process.env['SPFS_KEEP_WORK'] ? [] : [work], servers);
    if (process.env['SPFS_KEEP_WORK']) console.log(`kept ${work}`);
  });

  it(
    `keeps every errno documented, loses and duplicates nothing, honours Retry-After (seed ${SEED})`,
    async () => {
      const r = await runStorm({
        part: 'fault-storm',
        seed: SEED,
        faultMs: FAULT_SECONDS * 1000,
        gapMs: 2000,
        work,
        track,
        adminToken: ADMIN_TOKEN,
        port: await freePort(),
        cacheSize: '6M',
        seedFiles: 16,
        seedMaxBytes: 1 * MIB,
        largeBytes: 6 * MIB,
        sampleEveryMs: 0,
        servers,
      });
      r.counts.extra = `faults hit: ${describeHits(r.hits)}`;
      console.log(describePart(r.counts));
      const details =
        r.details.length > 0 ? `\n${r.details.join('\n')}\n${replayHint(__filename, SEED)}` : '';
      expect(describePart(r.counts) + details).toBe(cleanLine(r.counts));
      // Every kind of fault hit at least one request (or the storm tested less than it says).
      expect(describeHits(r.hits)).not.toMatch(/ 0(,|$)/);
    },
    (FAULT_SECONDS + 240) * 1000,
  );
});
