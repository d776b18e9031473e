// The reliability suite's one line of counts per part (issue "reliability and security suite"). Every part prints
// it with `console.log(describePart(counts))`; `npm run reliability` greps the lines (`reliability-counts ...`) into
// reliability/results/<date>-<commit>.md. A part runs a short fixed-seed slice in the test suite and a long one when
// SPFS_RELIABILITY=long (with a random seed unless SPFS_RELIABILITY_SEED is given).
import { readdirSync, readFileSync } from 'node:fs';

export interface PartCounts {
  /** Short name of the part, one word with dashes: `fault-storm`, `fio-verify`, ... */
  part: string;
  seed: number | undefined;
  operations: number;
  faults: number;
  crashes: number;
  bytesVerified: number;
  mismatches: number;
  lost: number;
  errnoSurprises: number;
  /** Highest VmHWM of the daemons watched, bytes (0 when not measured). */
  maxRssBytes: number;
  /** Anything else worth a column's note: `rss 80→82 MiB, fds 31→31`. */
  extra?: string;
}

export function newCounts(part: string, seed?: number): PartCounts {
  return {
    part,
    seed,
    operations: 0,
    faults: 0,
    crashes: 0,
    bytesVerified: 0,
    mismatches: 0,
    lost: 0,
    errnoSurprises: 0,
    maxRssBytes: 0,
  };
}

const MIB = 1024 * 1024;

/** The line `npm run reliability` parses: `reliability-counts <part> seed=<n|-> | ops | faults | ... | extra`. */
export function describePart(c: PartCounts): string {
  const cells = [
    `${c.operations} operations`,
    `${c.faults} faults`,
    `${c.crashes} crashes survived`,
    `${(c.bytesVerified / MIB).toFixed(1)} MiB verified`,
    `${c.mismatches} mismatches`,
    `${c.lost} lost`,
    `${c.errnoSurprises} errno surprises`,
    `max RSS ${c.maxRssBytes > 0 ? `${Math.round(c.maxRssBytes / MIB)} MiB` : '-'}`,
  ];
  return `reliability-counts ${c.part} seed=${c.seed ?? '-'} | ${cells.join(' | ')} | ${c.extra ?? ''}`;
}

/** What a clean part must show (the test compares the whole line, so a failure prints every count). */
export function cleanLine(c: PartCounts): string {
  return describePart({ ...c, mismatches: 0, lost: 0, errnoSurprises: 0 });
}

export type Scale = 'short' | 'long';

/** SPFS_RELIABILITY=long for `npm run reliability`; the test suite runs the short slice. */
export function reliabilityScale(): Scale {
  return process.env['SPFS_RELIABILITY'] === 'long' ? 'long' : 'short';
}

/** The part's seed: SPFS_RELIABILITY_SEED, else `fixed` in the short slice and a random one in the long run. */
export function reliabilitySeed(fixed: number): number {
  const given = process.env['SPFS_RELIABILITY_SEED'];
  if (given !== undefined) return Number(given);
  return reliabilityScale() === 'long' ? Math.floor(Math.random() * 2 ** 31) : fixed;
}

/** How to run this part again with the same seed (printed on failure). */
export function replayHint(file: string, seed: number): string {
  return `replay: SPFS_RELIABILITY=${reliabilityScale()} SPFS_RELIABILITY_SEED=${seed} npx jest ${file}`;
}

export interface ProcessUsage {
  rssBytes: number;
  hwmBytes: number;
  fds: number;
}

/** A process's resident memory (now and peak) and open descriptors, from /proc. */
export function processUsage(pid: number): ProcessUsage {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { rssBytes: kib('VmRSS'), hwmBytes: kib('VmHWM'), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** Samples the peak RSS (VmHWM) of `pids` until stopped; the last reading before a process exits is its peak. */
export function watchPeakRss(pids: readonly number[], intervalMs = 250): { stop(): number } {
  let peak = 0;
  const sample = (): void => {
    for (const pid of pids) {
      try {
        peak = Math.max(peak, processUsage(pid).hwmBytes);
      } catch {
        // exited meanwhile
      }
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}
