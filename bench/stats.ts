// Pure statistics and number formatting for the benchmark report: median, min–max spread, ratios.

export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function median(samples: readonly number[]): number {
  if (samples.length === 0) throw new Error('median of no samples');
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(samples: readonly number[]): Summary {
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), n: samples.length };
}

/** Three significant digits, thousands separated: 1234.5 → "1,235", 0.01234 → "0.0123". */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 100) return Math.round(x).toLocaleString('en-US');
  if (abs === 0) return '0';
  const digits = Math.max(0, 2 - Math.floor(Math.log10(abs)));
  return x.toFixed(digits);
}

/** "1,042 (998–1,100)": the median and the min–max spread. */
export function formatSummary(s: Summary): string {
  return s.min === s.max
    ? formatNumber(s.median)
    : `${formatNumber(s.median)} (${formatNumber(s.min)}–${formatNumber(s.max)})`;
}

/** spfs ÷ other as "2.31×"; undefined when either side has no number. */
export function formatRatio(spfs: number | undefined, other: number | undefined): string {
  if (spfs === undefined || other === undefined || other === 0) return '—';
  return `${formatNumber(spfs / other)}×`;
}
