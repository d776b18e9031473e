// Pure helpers of the benchmark harness (bench/): statistics, table formatting, the data-set generator's determinism.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { contentStream, generateDataset, treeLayout, type DatasetSpec } from '../../bench/dataset';
import { formatTable, makeCell } from '../../bench/report';
import { formatNumber, formatRatio, formatSummary, median, summarize } from '../../bench/stats';
import { makeTempDir } from '../helpers/spfs-processes';
import { rmSync } from 'node:fs';

const SPEC: DatasetSpec = {
  bigMib: [1, 2],
  midCount: 3,
  treeFiles: 40,
  treeTopFolders: 2,
  treeLeafFolders: 5,
};

function fingerprint(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else h.update(`${relative(dir, full)}\0`).update(readFileSync(full));
    }
  };
  walk(dir);
  return h.digest('hex');
}

describe('bench statistics', () => {
  test('median of odd and even sample counts, spread as min–max', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(summarize([5, 1, 9])).toEqual({ median: 5, min: 1, max: 9, n: 3 });
    expect(() => median([])).toThrow();
  });

  test('numbers keep three significant digits and ratios read spfs ÷ other', () => {
    expect(formatNumber(1234.4)).toBe('1,234');
    expect(formatNumber(12.345)).toBe('12.3');
    expect(formatNumber(0.012345)).toBe('0.0123');
    expect(formatSummary({ median: 10, min: 9, max: 12.5, n: 3 })).toBe('10.0 (9.00–12.5)');
    expect(formatRatio(300, 150)).toBe('2.00×');
    expect(formatRatio(undefined, 150)).toBe('—');
  });
});

describe('bench report table', () => {
  test('cells show median (min–max), unsupported and n/a cells say so, ratios only between ok cells', () => {
    const table = formatTable({
      contenders: ['local', 'bindfs', 'rclone', 'spfs'],
      metrics: [
        {
          id: 'read',
          label: 'cold read',
          unit: 'MB/s',
          better: 'higher',
          cells: {
            local: makeCell([1000, 900, 1100], [], undefined),
            bindfs: makeCell([], ['rep 1: boom'], undefined),
            rclone: makeCell([100, 100, 100], [], undefined),
            spfs: makeCell([200, 150, 250], [], undefined),
          },
        },
        {
          id: 'write',
          label: 'write',
          unit: 'ms',
          better: 'lower',
          cells: {
            local: makeCell([], [], 'n/a (no server)'),
            bindfs: makeCell([1], [], undefined),
            rclone: makeCell([2], [], undefined),
            spfs: makeCell([], [], 'not supported yet (EROFS)'),
          },
        },
      ],
    });
    const lines = table.split('\n');
    expect(lines[0]).toBe(
      '| workload | unit | local | bindfs | rclone | spfs | spfs/bindfs | spfs/rclone | spfs/local |',
    );
    expect(lines[2]).toBe(
      '| cold read | MB/s (↑) | 1,000 (900–1,100) | failed | 100 | 200 (150–250) | — | 2.00× | 0.200× |',
    );
    expect(lines[3]).toBe('| write | ms (↓) | n/a | 1.00 | 2.00 | not supported yet | — | — | — |');
  });

  test('with the fuse-native contender, the table divides spfs by it first', () => {
    const table = formatTable({
      contenders: ['rclone', 'spfs', 'spfs-fuse2'],
      metrics: [
        {
          id: 'ls',
          label: 'ls -lR',
          unit: 'ms',
          better: 'lower',
          cells: {
            rclone: makeCell([800], [], undefined),
            spfs: makeCell([200], [], undefined),
            'spfs-fuse2': makeCell([1000], [], undefined),
          },
        },
      ],
    });
    const lines = table.split('\n');
    expect(lines[0]).toBe('| workload | unit | rclone | spfs | spfs-fuse2 | spfs/spfs-fuse2 | spfs/rclone |');
    expect(lines[2]).toBe('| ls -lR | ms (↓) | 800 | 200 | 1,000 | 0.200× | 0.250× |');
  });
});

describe('bench data set', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  test('the same seed builds byte-identical trees; another seed does not', () => {
    const [a, b, c] = [makeTempDir('bench'), makeTempDir('bench'), makeTempDir('bench')];
    dirs.push(a, b, c);
    generateDataset(join(a, 'data'), SPEC, 7);
    generateDataset(join(b, 'data'), SPEC, 7);
    generateDataset(join(c, 'data'), SPEC, 8);
    expect(fingerprint(join(a, 'data'))).toBe(fingerprint(join(b, 'data')));
    expect(fingerprint(join(a, 'data'))).not.toBe(fingerprint(join(c, 'data')));
    expect(statSync(join(a, 'data', 'big-2MiB.bin')).size).toBe(2 * 1024 * 1024);
    expect(generateDataset(join(a, 'data'), SPEC, 7).reused).toBe(true);
  });

  test('the tree spreads its files over top × leaf folders with 1–4 KiB sizes', () => {
    const files = treeLayout(SPEC, 1);
    expect(files).toHaveLength(40);
    expect(new Set(files.map((f) => f.path.split('/').slice(0, 2).join('/'))).size).toBe(10);
    expect(files.every((f) => f.bytes >= 1024 && f.bytes <= 4096)).toBe(true);
    expect(contentStream(1, 'x')(32).equals(contentStream(1, 'x')(32))).toBe(true);
  });
});
