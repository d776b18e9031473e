// SVG plot written from the results JSON: cold sequential throughput (MB/s) and time to first byte (ms, log scale)
// by file size, one bar per contender. No browser or plotting library needed.
import type { BenchResult } from './report';

const COLORS: Record<string, string> = {
  local: '#7f7f7f',
  bindfs: '#1f77b4',
  'bindfs-tuned': '#17becf',
  rclone: '#ff7f0e',
  spfs: '#2ca02c',
};
const W = 460;
const H = 300;
const PAD = { l: 60, r: 10, t: 30, b: 50 };

interface Panel {
  title: string;
  groups: Array<{ label: string; metric: string }>;
  log: boolean;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(r: BenchResult, p: Panel, x0: number): string {
  const value = (metric: string, c: string): number | undefined => {
    const cell = r.metrics.find((m) => m.id === metric)?.cells[c];
    return cell?.status === 'ok' ? cell.median : undefined;
  };
  const all = p.groups
    .flatMap((g) => r.contenders.map((c) => value(g.metric, c)))
    .filter((v) => v !== undefined);
  const max = Math.max(1e-9, ...all);
  const min = Math.max(1e-3, Math.min(...all.filter((v) => v > 0), max));
  const lo = p.log ? Math.floor(Math.log10(min)) : 0;
  const hi = p.log ? Math.ceil(Math.log10(max)) : max * 1.1;
  const plotH = H - PAD.t - PAD.b;
  const y = (v: number): number =>
    PAD.t +
    plotH -
    (p.log ? ((Math.log10(Math.max(v, 10 ** lo)) - lo) / Math.max(1, hi - lo)) * plotH : (v / hi) * plotH);
  const out: string[] = [`<g transform="translate(${x0},0)">`];
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  const ticks = p.log
    ? Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i))
    : [0, 0.25, 0.5, 0.75, 1].map((f) => f * hi);
  for (const t of ticks) {
    out.push(`<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/>`);
    const label = t >= 1 ? Math.round(t).toLocaleString('en-US') : String(t);
    out.push(`<text x="${PAD.l - 4}" y="${y(t) + 4}" text-anchor="end" font-size="10">${label}</text>`);
  }
  const gw = (W - PAD.l - PAD.r) / p.groups.length;
  const bw = (gw * 0.8) / r.contenders.length;
  p.groups.forEach((g, gi) => {
    const gx = PAD.l + gi * gw + gw * 0.1;
    r.contenders.forEach((c, ci) => {
      const v = value(g.metric, c);
      const x = gx + ci * bw;
      if (v === undefined) {
        out.push(
          `<text x="${x + bw / 2}" y="${PAD.t + plotH - 4}" text-anchor="middle" font-size="9">–</text>`,
        );
        return;
      }
      const top = y(v);
      out.push(
        `<rect x="${x}" y="${top}" width="${bw - 1}" height="${PAD.t + plotH - top}" fill="${COLORS[c] ?? '#999'}"><title>${esc(c)}: ${v.toFixed(2)}</title></rect>`,
      );
    });
    out.push(
      `<text x="${gx + gw * 0.4}" y="${H - PAD.b + 16}" text-anchor="middle" font-size="11">${esc(g.label)}</text>`,
    );
  });
  out.push(
    `<line x1="${PAD.l}" x2="${W - PAD.r}" y1="${PAD.t + plotH}" y2="${PAD.t + plotH}" stroke="#000"/>`,
  );
  out.push('</g>');
  return out.join('\n');
}

/** The whole SVG document. Sizes come from the metric labels' file sizes passed in by the caller. */
export function renderPlot(r: BenchResult, sizes: { mid: string; a: string; b: string }): string {
  const legend = r.contenders
    .map(
      (c, i) =>
        `<rect x="${60 + i * 120}" y="${H + 4}" width="12" height="12" fill="${COLORS[c] ?? '#999'}"/><text x="${76 + i * 120}" y="${H + 14}" font-size="11">${esc(c)}</text>`,
    )
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 24}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="#fff"/>',
    panel(
      r,
      {
        title: 'cold sequential read, MB/s (higher is better)',
        groups: [
          { label: `${sizes.mid} files`, metric: 'mid-cold-mbps' },
          { label: sizes.a, metric: 'read-cold-a' },
          { label: sizes.b, metric: 'read-cold-b' },
        ],
        log: false,
      },
      0,
    ),
    panel(
      r,
      {
        title: 'time to first byte, ms, log scale (lower is better)',
        groups: [
          { label: sizes.mid, metric: 'ttfb-1m' },
          { label: sizes.a, metric: 'ttfb-a' },
          { label: sizes.b, metric: 'ttfb-b' },
        ],
        log: true,
      },
      W,
    ),
    legend,
    '</svg>',
    '',
  ].join('\n');
}
