// Progress of long work on a terminal (cli-progress: a maintained, widely used bar that redraws one line), and
// nothing at all when the stream is not a terminal, so pipes and logs stay clean. One call site per kind of work:
// `startProgress({ label, totalFiles, totalBytes })` → `update(counts)` as the work goes, `done()` at the end.
import { SingleBar } from 'cli-progress';
import { formatBytes } from './mount-status';

export interface ProgressCounts {
  /** Files done (with totals) or found. */
  files?: number;
  /** Bytes done (with totals) or found. */
  bytes?: number;
  folders?: number;
  items?: number;
}

export interface ProgressOptions {
  label: string;
  /** With a total, the bar shows done of total, rate and time left; without, counts and rate. */
  totalFiles?: number;
  totalBytes?: number;
  /** Default stderr. Progress is drawn only when it is a TTY. */
  stream?: NodeJS.WriteStream;
  /** Clock for the rate (ms); default Date.now. */
  now?: () => number;
}

export interface Progress {
  update(c: ProgressCounts): void;
  /** Raises the totals when more work joined meanwhile (a flush whose queue grew). */
  setTotals(t: { files?: number; bytes?: number }): void;
  /** Ends the line; `summary` (if any) replaces the bar's text for the last draw. */
  done(summary?: string): void;
}

const QUIET: Progress = { update: () => undefined, setTotals: () => undefined, done: () => undefined };

/** "12 folders, 340 items" or "3/10 files, 1.5 MiB/20.0 MiB": the counts part of a progress line (plain logic). */
export function describeCounts(c: ProgressCounts, totals: { files?: number; bytes?: number }): string {
  const parts: string[] = [];
  if (c.folders !== undefined) parts.push(`${c.folders} folders`);
  if (c.items !== undefined) parts.push(`${c.items} items`);
  if (c.files !== undefined)
    parts.push(totals.files !== undefined ? `${c.files}/${totals.files} files` : `${c.files} files`);
  if (c.bytes !== undefined)
    parts.push(
      totals.bytes !== undefined
        ? `${formatBytes(c.bytes)}/${formatBytes(totals.bytes)}`
        : formatBytes(c.bytes),
    );
  return parts.join(', ');
}

/** Per second, from what was done in `elapsedMs`: bytes when there are any, else items, files or folders. */
export function describeRate(c: ProgressCounts, elapsedMs: number): string {
  const s = Math.max(elapsedMs, 1) / 1000;
  if (c.bytes !== undefined && c.bytes > 0) return `${formatBytes(Math.round(c.bytes / s))}/s`;
  const [n, what] =
    c.items !== undefined
      ? [c.items, 'items']
      : c.files !== undefined
        ? [c.files, 'files']
        : [c.folders ?? 0, 'folders'];
  return `${Math.round(n / s)} ${what}/s`;
}

/** "12 s left" from the share done in `elapsedMs`; undefined until something was done (no rate yet). */
export function describeTimeLeft(done: number, total: number, elapsedMs: number): string | undefined {
  if (done <= 0 || elapsedMs <= 0) return undefined;
  const s = Math.ceil(((total - done) * elapsedMs) / done / 1000);
  return s >= 120 ? `${Math.ceil(s / 60)} min left` : `${s} s left`;
}

export function startProgress(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  if (!stream.isTTY) return QUIET;
  const now = o.now ?? Date.now;
  const started = now();
  const totals: { files?: number; bytes?: number } = {};
  if (o.totalFiles !== undefined) totals.files = o.totalFiles;
  if (o.totalBytes !== undefined) totals.bytes = o.totalBytes;
  const withTotal = totals.bytes !== undefined || totals.files !== undefined;
  const bar = new SingleBar({
    stream,
    format: withTotal ? `${o.label} [{bar}] {percentage}% | {text}` : `${o.label}: {text}`,
    barsize: 24,
    hideCursor: true,

    fps: 5,
  });
  // The bar measures bytes when there are any to move, else files.
  const measure = (c: ProgressCounts): number => (totals.bytes ? (c.bytes ?? 0) : (c.files ?? 0));
  const total = (): number => Math.max(1, totals.bytes ? totals.bytes : (totals.files ?? 1));
  let last: ProgressCounts = {};
  const text = (c: ProgressCounts): string => {
    const head = `${describeCounts(c, totals)} | ${describeRate(c, now() - started)}`;
    const left = withTotal ? describeTimeLeft(measure(c), total(), now() - started) : undefined;
    return left === undefined ? head : `${head} | ${left}`;
  };
  bar.start(total(), 0, { text: 'starting' });
  let stopped = false;
  return {
    update(c) {
      if (stopped) return;
      last = c;
      bar.update(Math.min(measure(c), total()), { text: text(c) });
    },
    setTotals(t) {
      if (stopped) return;
      if (t.files !== undefined) totals.files = Math.max(totals.files ?? 0, t.files);
      if (t.bytes !== undefined) totals.bytes = Math.max(totals.bytes ?? 0, t.bytes);
      bar.setTotal(total());
    },
    done(summary) {
      if (stopped) return;
      stopped = true;
      bar.update(Math.min(measure(last), total()), { text: summary ?? text(last) });
      bar.stop();
    },
  };
}
