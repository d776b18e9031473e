// Results model and the Markdown report: one row per metric, absolute medians with min–max spread per contender,
// and the ratios spfs/bindfs, spfs/rclone, spfs/local. Pure functions (tested in test/bench).
import { formatRatio, formatSummary, summarize } from './stats';

export type CellStatus = 'ok' | 'failed' | 'unsupported' | 'n/a';

export interface Cell {
  status: CellStatus;
  samples: number[];
  median?: number;
  min?: number;
  max?: number;
  /** Why a cell is not ok, or which repetitions failed. */
  note?: string;
}

export interface MetricResult {
  id: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  cells: Record<string, Cell>;
}

export interface BenchResult {
  date: string;
  commit: string;
  quick: boolean;
  seed: number;
  reps: number;
  machine: Record<string, string>;
  dataset: Record<string, string | number>;
  contenders: string[];
  metrics: MetricResult[];
  notes: string[];
}

/** Turns raw samples and failures into a cell with its summary. */
export function makeCell(samples: number[], failures: string[], skipped: string | undefined): Cell {
  if (samples.length > 0) {
    const s = summarize(samples);
    const cell: Cell = { status: 'ok', samples, median: s.median, min: s.min, max: s.max };
    if (failures.length > 0) cell.note = `${failures.length} repetition(s) failed: ${failures[0]}`;
    return cell;
  }
  if (skipped !== undefined)
    return { status: skipped.startsWith('n/a') ? 'n/a' : 'unsupported', samples, note: skipped };
  return { status: 'failed', samples, note: failures[0] ?? 'no samples' };
}

function cellText(c: Cell | undefined): string {
  if (c === undefined) return '—';
  switch (c.status) {
    case 'ok':
      return formatSummary({ median: c.median!, min: c.min!, max: c.max!, n: c.samples.length });
    case 'unsupported':
      return 'not supported yet';
    case 'n/a':
      return 'n/a';
    case 'failed':
      return 'failed';
  }
}

const ok = (c: Cell | undefined): number | undefined => (c?.status === 'ok' ? c.median : undefined);

/** The results table in Markdown (GitHub flavour). */
export function formatTable(r: Pick<BenchResult, 'contenders' | 'metrics'>): string {
  const others = ['spfs-fuse2', 'bindfs', 'rclone', 'local'].filter((o) => r.contenders.includes(o));
  const withSpfs = r.contenders.includes('spfs');
  const head = ['workload', 'unit', ...r.contenders, ...(withSpfs ? others.map((o) => `spfs/${o}`) : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const m of r.metrics) {
    const unit = `${m.unit} (${m.better === 'higher' ? '↑' : '↓'})`;
    const cells = r.contenders.map((c) => cellText(m.cells[c]));
    const ratios = withSpfs ? others.map((o) => formatRatio(ok(m.cells.spfs), ok(m.cells[o]))) : [];
    lines.push(`| ${[m.label, unit, ...cells, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Every cell that is not a clean "ok", as a bullet list. */
export function formatCellNotes(r: Pick<BenchResult, 'metrics'>): string[] {
  const out: string[] = [];
  for (const m of r.metrics)
    for (const [c, cell] of Object.entries(m.cells))
      if (cell.note !== undefined)
        out.push(`- ${m.label}, ${c}: ${cell.status === 'ok' ? '' : `${cell.status}: `}${cell.note}`);
  return out;
}

export function formatReport(r: BenchResult, plotFile: string): string {
  const kv = (o: Record<string, string | number>): string =>
    Object.entries(o)
      .map(([k, v]) => `| ${k} | ${v} |`)
      .join('\n');
  return [
    `# spfs benchmark — ${r.date}, commit ${r.commit}${r.quick ? ' (quick)' : ''}`,
    '',
    `Produced by \`npm run bench${r.quick ? ' -- --quick' : ''}\` (see docs/BENCHMARKS.md). Each cell is the median of ${r.reps}`,
    'repetitions with the min–max spread in brackets; contenders alternate within each repetition. Ratios divide',
    "spfs's median by the other contender's: for ↑ rows a ratio above 1 means spfs is faster, for ↓ rows below 1 does.",
    '',
    '## Machine',
    '',
    '| fact | value |',
    '|---|---|',
    kv(r.machine),
    '',
    '## Data set',
    '',
    '| item | value |',
    '|---|---|',
    kv(r.dataset),
    '',
    '## Results',
    '',
    formatTable(r),
    '',
    `![throughput and time to first byte by file size](${plotFile})`,
    '',
    '## Notes',
    '',
    ...r.notes.map((n) => `- ${n}`),
    ...formatCellNotes(r),
    '',
  ].join('\n');
}
