// The cache and state folders are the mounting user's alone: made 0700, and tightened when they exist looser.
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from '../../src/cli/private-dir';
import { TempDirs } from '../helpers/temp-dirs';

const temps = new TempDirs();
afterEach(() => temps.cleanup());

const modeOf = (p: string): number => statSync(p).mode & 0o7777;

it('creates missing folders 0700, whatever the umask', () => {
  const old = process.umask(0o000);
  try {
    const dir = join(temps.make('spfs-private-'), 'a', 'b');
    ensurePrivateDir(dir);
    expect(modeOf(dir)).toBe(0o700);
    expect(modeOf(join(dir, '..'))).toBe(0o700);
  } finally {
    process.umask(old);
  }
});

it('takes group and other access away from an existing folder (a fresh tmpfs root is 1777)', () => {
  const dir = join(temps.make('spfs-private-'), 'cache');
  mkdirSync(dir);
  chmodSync(dir, 0o1777);
  ensurePrivateDir(dir);
  expect(modeOf(dir)).toBe(0o700);
});
