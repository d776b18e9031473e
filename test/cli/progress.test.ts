// Progress text as plain logic, and silence on a stream that is not a terminal (the pty case is end to end, in
// test/e2e/status-doctor.test.ts).
import { PassThrough } from 'node:stream';
import { describeCounts, describeRate, describeTimeLeft, startProgress } from '../../src/cli/progress';

test('counts and rates read as people read them', () => {
  expect(describeCounts({ folders: 12, items: 340 }, {})).toBe('12 folders, 340 items');
  expect(describeCounts({ files: 3, bytes: 1536 }, { files: 10, bytes: 3072 })).toBe(
    '3/10 files, 1.5 KiB/3.0 KiB',
  );
  expect(describeRate({ folders: 12, items: 340 }, 2000)).toBe('170 items/s');
  expect(describeRate({ files: 3, bytes: 2 * 1024 ** 2 }, 2000)).toBe('1.0 MiB/s');
  expect(describeRate({ files: 4, bytes: 0 }, 2000)).toBe('2 files/s');
});

test('nothing is written to a stream that is not a terminal', () => {
  const out = new PassThrough();
  let written = '';
  out.on('data', (d: Buffer) => (written += d.toString()));
  const p = startProgress({
    label: 'spfs: uploading',
    totalFiles: 2,
    totalBytes: 10,
    stream: out as unknown as NodeJS.WriteStream,
  });
  p.update({ files: 1, bytes: 5 });
  p.done('2 files uploaded');
  expect(written).toBe('');
});

test('time left comes from the share done so far, and only once something was done', () => {
  expect(describeTimeLeft(0, 100, 5000)).toBeUndefined();
  expect(describeTimeLeft(25, 100, 10_000)).toBe('30 s left');
  expect(describeTimeLeft(10, 100, 60_000)).toBe('9 min left');
  expect(describeTimeLeft(100, 100, 1000)).toBe('0 s left');
});
