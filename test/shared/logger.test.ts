// The daemon's log file: rotated at its size bound into a few files, and secrets redacted (real files on disk).
import { readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { closeLogger, createLogger } from '../../src/shared/logger';
import { TempDirs } from '../helpers/temp-dirs';

const temps = new TempDirs();
afterEach(() => temps.cleanup());

test('the log file rotates at its size bound and keeps only the configured number of rotated files', async () => {
  const dir = temps.make('spfs-log-');
  const file = join(dir, 'spfs.log');
  const logger = createLogger({ file, rotateBytes: 16 * 1024, rotatedFiles: 2 });
  // ~200 bytes a line: 1,000 lines are about 12 bounds' worth.
  for (let i = 0; i < 1000; i++) logger.info({ n: i, pad: 'x'.repeat(120) }, 'a line that fills the log');
  await closeLogger(logger);
  const names = readdirSync(dir).sort();
  expect(names).toEqual(['spfs.log', 'spfs.log.1', 'spfs.log.2']);
  for (const n of names) expect(statSync(join(dir, n)).size).toBeLessThanOrEqual(16 * 1024 + 1024);
  // The newest lines are in spfs.log, the last one among them.
  const current = readFileSync(file, 'utf8').trim().split('\n');
  expect((JSON.parse(current[current.length - 1]!) as { n: number }).n).toBe(999);
  expect(statSync(file).mode & 0o777).toBe(0o600);
});

test('passwords, authorization headers, cookies and tokens are redacted by key, however deep', async () => {
  const dir = temps.make('spfs-log-');
  const file = join(dir, 'spfs.log');
  const logger = createLogger({ file });
  logger.info({ password: 'pw-secret-1' }, 'top');
  logger.info(
    { req: { headers: { authorization: 'Basic c2VjcmV0', cookie: 'FedAuth=cookie-secret' } } },
    'deep',
  );
  logger.info({ auth: { token: 'bearer-secret', accessToken: 'at-secret' } }, 'nested');
  logger.warn({ res: { headers: { 'set-cookie': 'rtFa=set-cookie-secret' } } }, 'set-cookie');
  await closeLogger(logger);
  const text = readFileSync(file, 'utf8');
  expect(text.split('\n').filter(Boolean)).toHaveLength(4);
  for (const secret of ['pw-secret-1', 'c2VjcmV0', 'cookie-secret', 'bearer-secret', 'at-secret'])
    expect(text).not.toContain(secret);
  expect(text).toContain('[redacted]');
});

test('a full disk drops log lines instead of ending the process, and logging resumes once it can write', async () => {
  const dir = temps.make('spfs-log-');
  const file = join(dir, 'spfs.log');
  // /dev/full answers every write with ENOSPC, as a full cache disk does.
  symlinkSync('/dev/full', file);
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => void uncaught.push(err);
  process.prependListener('uncaughtException', onUncaught);
  try {
    const logger = createLogger({ file });
    logger.info('lost to the full disk');
    await new Promise((r) => setTimeout(r, 100));
    rmSync(file);
    await new Promise((r) => setTimeout(r, 1100)); // the stream is opened again a second after a failure
    logger.info('written after space was freed');
    await closeLogger(logger);
    expect(uncaught).toEqual([]);
    expect(readFileSync(file, 'utf8')).toContain('written after space was freed');
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
