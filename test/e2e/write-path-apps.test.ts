// Save patterns of real programs on a real mount (child processes): vim's write-new-then-rename and in-place
// rewrite, shell truncate+rewrite, `cp -a`, `rsync -a`, `tar x`, `unzip`, and git init/add/commit/checkout. The
// result is checked through a second mount with its own cache, i.e. on the server.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertE2EPrerequisites,
  forceCleanup,
  makeTempDir,
  mountUnder,
  runSpfs,
  startServerProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

jest.setTimeout(180_000);

const sh = (cmd: string, args: string[], cwd?: string): string =>
  // A program that fails its write may wait for input forever (vim -es): the timeout makes that a failure, not a hang.
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 60_000 });

/** Relative path -> content (base64) of every file under `dir`, folders as entries ending in `/`. */
function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (skip(r)) continue;
      const st = statSync(join(dir, r));
      if (st.isDirectory()) {
        out.set(`${r}/`, '');
        walk(r);
      } else out.set(r, readFileSync(join(dir, r)).toString('base64'));
    }
  };
  walk('');
  return out;
}

/** A small tree with nested folders, an empty file and a 300 KiB binary. */
function makeTree(dir: string): void {
  mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
  mkdirSync(join(dir, 'empty-folder'));
  writeFileSync(join(dir, 'readme.md'), '# tree\n');
  writeFileSync(join(dir, 'empty.txt'), '');
  writeFileSync(join(dir, 'sub', 'a.txt'), 'a\n'.repeat(100));
  writeFileSync(
    join(dir, 'sub', 'deeper', 'b.bin'),
    Buffer.from(Array.from({ length: 300 * 1024 }, (_, i) => (i * 7) % 251)),
  );
}

describe('save patterns of real programs (real mount, checked on the server)', () => {
  let base: string;
  let server: ServerProcess;
  const mountpoints: string[] = [];
  let src: string;

  beforeAll(async () => {
    assertE2EPrerequisites();
    base = makeTempDir('apps');
    mkdirSync(join(base, 'data'));
    server = await startServerProcess({ dataDir: join(base, 'data') });
    src = join(base, 'src');
    makeTree(src);
  });
  afterAll(async () => forceCleanup(mountpoints, [base], [server]));

  async function mount(name: string, extra: string[] = []): Promise<{ dir: string; cache: string }> {
    const m = await mountUnder(server, base, name, extra, mountpoints);
    return { dir: m.mountpoint, cache: m.cacheDir };
  }
  const unmount = (m: { dir: string; cache: string }): ReturnType<typeof runSpfs> =>
    runSpfs(['unmount', m.dir], { SPFS_STATE_DIR: join(m.cache, '..', 'state') });

  it('vim, shell rewrite, cp -a, rsync -a, tar x, unzip and git produce the same tree on the server', async () => {
    const a = await mount('apps', ['--write-back', '0.2']);
    const d = a.dir;

    // vim: write a new file and rename it over the original (backupcopy=no), then rewrite in place (=yes).
    writeFileSync(join(d, 'vim-new.txt'), 'old line\nsecond\n');
    writeFileSync(join(d, 'vim-inplace.txt'), 'old line\nsecond\n');
    const vim = (file: string, backupcopy: string): string =>
      sh('vim', [
        '-es',
        '-u',
        'NONE',
        '-i',
        'NONE',
        '-c',
        `set nocp backupcopy=${backupcopy} writebackup`,
        '-c',
        '%s/old/new/',
        '-c',
        'wq',
        join(d, file),
      ]);
    vim('vim-new.txt', 'no');
    vim('vim-inplace.txt', 'yes');
    expect(readFileSync(join(d, 'vim-new.txt'), 'utf8')).toBe('new line\nsecond\n');

    // Shell: O_TRUNC rewrite of an existing file, shorter than before; then an append.
    writeFileSync(join(d, 'rewrite.txt'), 'a long first version of the file\n');
    sh('sh', [
      '-c',
      `printf 'short\\n' > '${join(d, 'rewrite.txt')}' && printf 'more\\n' >> '${join(d, 'rewrite.txt')}'`,
    ]);

    sh('cp', ['-a', src, join(d, 'cp-tree')]);
    sh('rsync', ['-a', `${src}/`, join(d, 'rsync-tree')]);
    // rsync again after a change: it writes a temp name and renames it over the file.
    writeFileSync(join(src, 'sub', 'a.txt'), 'changed by the second rsync\n');
    sh('rsync', ['-a', `${src}/`, join(d, 'rsync-tree')]);

    const tarball = join(base, 'tree.tar');
    sh('tar', ['cf', tarball, '-C', src, '.']);
    mkdirSync(join(d, 'tar-tree'));
    sh('tar', ['xf', tarball, '-C', join(d, 'tar-tree')]);

    const zipfile = join(base, 'tree.zip');
    sh('zip', ['-qr', zipfile, '.'], src);
    sh('unzip', ['-q', zipfile, '-d', join(d, 'unzip-tree')]);

    // git: init, two commits on two branches, checkout back to the first.
    const repo = join(d, 'repo');
    mkdirSync(repo);
    const git = (...args: string[]): string =>
      sh(
        'git',
        ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args],
        repo,
      );
    git('init', '-q');
    writeFileSync(join(repo, 'file.txt'), 'version 1\n');
    git('add', '.');
    git('commit', '-qm', 'first');
    git('checkout', '-qb', 'topic');
    writeFileSync(join(repo, 'file.txt'), 'version 2\n');
    writeFileSync(join(repo, 'new.txt'), 'only on topic\n');
    git('add', '.');
    git('commit', '-qm', 'second');
    git('checkout', '-q', 'main');
    expect(readFileSync(join(repo, 'file.txt'), 'utf8')).toBe('version 1\n');
    expect(git('status', '--porcelain')).toBe('');

    const expected = snapshot(d, (r) => r === 'repo/.git');
    expect((await unmount(a)).code).toBe(0);

    const b = await mount('apps-check');
    const onServer = snapshot(b.dir, (r) => r === 'repo/.git');
    expect([...onServer.keys()]).toEqual([...expected.keys()]);
    expect(onServer).toEqual(expected);
    expect(readFileSync(join(b.dir, 'vim-new.txt'), 'utf8')).toBe('new line\nsecond\n');
    expect(readFileSync(join(b.dir, 'vim-inplace.txt'), 'utf8')).toBe('new line\nsecond\n');
    expect(readFileSync(join(b.dir, 'rewrite.txt'), 'utf8')).toBe('short\nmore\n');
    expect(readFileSync(join(b.dir, 'rsync-tree', 'sub', 'a.txt'), 'utf8')).toBe(
      'changed by the second rsync\n',
    );
    for (const t of ['cp-tree', 'tar-tree', 'unzip-tree'])
      expect(statSync(join(b.dir, t, 'sub', 'deeper', 'b.bin')).size).toBe(300 * 1024);
    // The repository is whole on the server: objects, refs and the index.
    const gitB = (...args: string[]): string =>
      sh('git', ['-c', `safe.directory=*`, '-c', 'core.filemode=false', ...args], join(b.dir, 'repo'));
    gitB('fsck', '--no-progress');
    expect(gitB('log', '--format=%s', 'topic').split('\n').filter(Boolean)).toEqual(['second', 'first']);
    expect(gitB('status', '--porcelain')).toBe('');
    expect(gitB('show', 'topic:new.txt')).toBe('only on topic\n');
    // No editor or rsync scratch file reached the server.
    expect([...onServer.keys()].filter((k) => /\.swp$|~$|^4913$|\/\.[^/]+\.[A-Za-z0-9]{6}$/.test(k))).toEqual(
      [],
    );
    expect((await unmount(b)).code).toBe(0);
  });
});
