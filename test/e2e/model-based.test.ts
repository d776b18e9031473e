// Model-based (fast-check): random sequences of local operations (create, write at an offset, truncate, rename of
// files and folders, unlink, mkdir, rmdir), remote ones by another user through the admin endpoint (edit, create,
// rename, delete, and an edit racing a pending local one), `spfs flush`, SIGKILL of the daemon with a restart on the
// same cache, and a fresh mount with an empty cache. After every step the mount must equal a model: a plain folder
// tree plus the conflict rule (only someone else's change makes a copy, and the server's version keeps the name).
// The fixed-seed slice runs in the test suite; SPFS_MODEL_RUNS / SPFS_MODEL_SEED for longer runs (a failing seed and
// path are printed by fast-check and replay with SPFS_MODEL_SEED + SPFS_MODEL_PATH).
import { mkdir, open, rename, rmdir, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN, adminPost } from '../helpers/admin-endpoint';
import { killDaemon } from '../helpers/crash-loop';
import { eventually, readOr } from '../helpers/eventually';
import { describePart, newCounts } from '../helpers/reliability-counts';
import {
  assertE2EPrerequisites,
  forceCleanup,
  makeTempDir,
  mountUnder,
  runSpfs,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';
import { compareTree, diffSize, parentOf, TreeModel, versionOf } from '../helpers/tree-model';

const RUNS = Number(process.env['SPFS_MODEL_RUNS'] ?? 3);
const SEED = Number(process.env['SPFS_MODEL_SEED'] ?? 20261202);
const PATH = process.env['SPFS_MODEL_PATH'];
const STEPS = Number(process.env['SPFS_MODEL_STEPS'] ?? 60);
const WAIT_MS = 60_000;

interface Model {
  tree: TreeModel;
  /** Paths touched locally since the last flush (remote changes wait for a settled tree: deterministic rules). */
  dirty: boolean;
}

interface Real {
  server: ServerProcess;
  work: string;
  track: string[];
  mount: MountProcess;
  fresh: number;
}

const FILES = ['a.txt', 'b.txt', 'c.txt'];
const DIRS = ['x', 'y'];
const join2 = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);
const port = (r: Real): string => new URL(r.server.url).port;
const admin = (r: Real, change: Record<string, unknown>): Promise<unknown> =>
  adminPost(port(r), ADMIN_TOKEN, '/changes', { user: 'bob', ...change });

async function check(m: Model, r: Real, root = r.mount.mountpoint, when = 'after step'): Promise<void> {
  const d = await compareTree(root, m.tree);
  if (diffSize(d) > 0) throw new Error(`${when}: the mount differs from the model: ${JSON.stringify(d)}`);
}

const bytes = fc
  .tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 40_000 }))
  .map(([tag, n]) => Buffer.concat([Buffer.from(`${tag}\n`), Buffer.alloc(n, tag.charCodeAt(0) % 64)]));

class Write implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly at: [string, string],
    readonly data: Buffer,
    readonly offset: number | undefined,
  ) {}
  private get path(): string {
    return join2(...this.at);
  }
  check(m: Model): boolean {
    return FILES.includes(this.at[1]) && (this.at[0] === '' || m.tree.dirs.has(this.at[0]));
  }
  async run(m: Model, r: Real): Promise<void> {
    const abs = join(r.mount.mountpoint, this.path);
    const old = m.tree.files.get(this.path)?.bytes;
    if (this.offset === undefined || old === undefined) {
      await writeFile(abs, this.data);
      m.tree.setFile(this.path, this.data);
    } else {
      const at = Math.min(this.offset, old.length);
      const fh = await open(abs, 'r+');
      await fh.write(this.data, 0, this.data.length, at).finally(() => fh.close());
      const next = Buffer.alloc(Math.max(old.length, at + this.data.length));
      old.copy(next);
      this.data.copy(next, at);
      m.tree.setFile(this.path, next);
    }
    m.dirty = true;
    await check(m, r);
  }
  toString(): string {
    return `write ${this.path} (${this.data.length} bytes${this.offset !== undefined ? ` at ${this.offset}` : ''})`;
  }
}

class Truncate implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly path: string,
    readonly len: number,
  ) {}
  check(m: Model): boolean {
    return m.tree.files.has(this.path);
  }
  async run(m: Model, r: Real): Promise<void> {
    const old = m.tree.files.get(this.path)?.bytes ?? Buffer.alloc(0);
    const len = Math.min(this.len, old.length);
    await truncate(join(r.mount.mountpoint, this.path), len);
    m.tree.setFile(this.path, old.subarray(0, len));
    m.dirty = true;
    await check(m, r);
  }
  toString(): string {
    return `truncate ${this.path} ${this.len}`;
  }
}

class Rename implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly from: string,
    readonly to: [string, string],
  ) {}
  private get dest(): string {
    return join2(...this.to);
  }
  check(m: Model): boolean {
    const t = m.tree;
    const dest = this.dest;
    if (dest === this.from || (this.to[0] !== '' && !t.dirs.has(this.to[0]))) return false;
    if (t.files.has(this.from)) return FILES.includes(this.to[1]) && !t.dirs.has(dest);
    if (!t.dirs.has(this.from) || !DIRS.includes(this.to[1]) || t.files.has(dest)) return false;
    // A folder: not into itself, and not over a folder (POSIX allows an empty one; keep it simple).
    return !dest.startsWith(`${this.from}/`) && this.to[0] !== this.from && !t.dirs.has(dest);
  }
  async run(m: Model, r: Real): Promise<void> {
    await rename(join(r.mount.mountpoint, this.from), join(r.mount.mountpoint, this.dest));
    m.tree.files.delete(this.dest);
    m.tree.rename(this.from, this.dest);
    m.dirty = true;
    await check(m, r);
  }
  toString(): string {
    return `rename ${this.from} → ${this.dest}`;
  }
}

class Unlink implements fc.AsyncCommand<Model, Real> {
  constructor(readonly path: string) {}
  check(m: Model): boolean {
    return m.tree.files.has(this.path);
  }
  async run(m: Model, r: Real): Promise<void> {
    await unlink(join(r.mount.mountpoint, this.path));
    m.tree.files.delete(this.path);
    m.dirty = true;
    await check(m, r);
  }
  toString(): string {
    return `unlink ${this.path}`;
  }
}

class Mkdir implements fc.AsyncCommand<Model, Real> {
  constructor(readonly at: [string, string]) {}
  private get path(): string {
    return join2(...this.at);
  }
  check(m: Model): boolean {
    const p = this.path;
    return (
      DIRS.includes(this.at[1]) &&
      (this.at[0] === '' || m.tree.dirs.has(this.at[0])) &&
      !m.tree.dirs.has(p) &&
      !m.tree.files.has(p)
    );
  }
  async run(m: Model, r: Real): Promise<void> {
    await mkdir(join(r.mount.mountpoint, this.path));
    m.tree.dirs.add(this.path);
    m.dirty = true;
    await check(m, r);
  }
  toString(): string {
    return `mkdir ${this.path}`;
  }
}

class Rmdir implements fc.AsyncCommand<Model, Real> {
  constructor(readonly path: string) {}
  check(m: Model): boolean {
    const t = m.tree;
    return (
      t.dirs.has(this.path) &&
      t.filesUnder(this.path).length === 0 &&
      t.dirsUnder(this.path).length === 0 &&
      !t.conflictCopies.some((c) => c.dir === this.path)
    );
  }
  async run(m: Model, r: Real): Promise<void> {
    await rmdir(join(r.mount.mountpoint, this.path));
    m.tree.dirs.delete(this.path);
    m.dirty = true;
    await check(m, r);
  }
  toString(): string {
    return `rmdir ${this.path}`;
  }
}

/** `spfs flush`: every local change is on the server afterwards. */
class Flush implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    await flush(r);
    m.dirty = false;
    await check(m, r);
  }
  toString(): string {
    return 'flush';
  }
}

async function flush(r: Real): Promise<void> {
  const f = await runSpfs(['flush', r.mount.mountpoint], stateEnv(r.mount));
  if (f.code !== 0) throw new Error(`spfs flush exited ${f.code}: ${f.stderr}`);
}

const stateEnv = (m: MountProcess): NodeJS.ProcessEnv => ({
  SPFS_STATE_DIR: join(m.cacheDir, '..', 'state'),
});

/** Bob edits, creates, renames or deletes a file on the server; the mount shows it once change sync ran. */
class Remote implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly op: 'edit' | 'create' | 'rename' | 'delete',
    readonly at: [string, string],
    readonly data: Buffer,
    readonly newName: string,
  ) {}
  private get path(): string {
    return join2(...this.at);
  }
  check(m: Model): boolean {
    if (m.dirty || !FILES.includes(this.at[1])) return false;
    const t = m.tree;
    if (this.op === 'create')
      return (
        (this.at[0] === '' || t.dirs.has(this.at[0])) && !t.files.has(this.path) && !t.dirs.has(this.path)
      );
    if (!t.files.has(this.path)) return false;
    return this.op !== 'rename' || !t.files.has(join2(this.at[0], this.newName));
  }
  async run(m: Model, r: Real): Promise<void> {
    const t = m.tree;
    const abs = join(r.mount.mountpoint, this.path);
    const contentBase64 = this.data.toString('base64');
    if (this.op === 'edit' || this.op === 'create') {
      await admin(r, {
        op: this.op === 'edit' ? 'edit-file' : 'create-file',
        path: this.path,
        contentBase64,
      });
      t.setFile(this.path, this.data);
      await eventually(
        () => (readOr(abs) === this.data.toString() ? true : undefined),
        this.toString(),
        WAIT_MS,
      );
    } else if (this.op === 'rename') {
      const dest = join2(this.at[0], this.newName);
      await admin(r, { op: 'rename', path: this.path, to: this.newName });
      t.rename(this.path, dest);
      await eventually(() => (readOr(abs) === undefined ? true : undefined), this.toString(), WAIT_MS);
    } else {
      await admin(r, { op: 'delete', path: this.path });
      t.files.delete(this.path);
      await eventually(() => (readOr(abs) === undefined ? true : undefined), this.toString(), WAIT_MS);
    }
    await check(m, r);
  }
  toString(): string {
    return `remote ${this.op} ${this.path}${this.op === 'rename' ? ` → ${this.newName}` : ''}`;
  }
}

/** Our edit and Bob's race: ours is pending when his lands; after the flush his keeps the name, ours is the copy. */
class ConflictingEdit implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly path: string,
    readonly ours: Buffer,
    readonly theirs: Buffer,
  ) {}
  check(m: Model): boolean {
    return !m.dirty && m.tree.files.has(this.path) && !this.ours.equals(this.theirs);
  }
  async run(m: Model, r: Real): Promise<void> {
    await writeFile(join(r.mount.mountpoint, this.path), this.ours);
    await admin(r, { op: 'edit-file', path: this.path, contentBase64: this.theirs.toString('base64') });
    await flush(r);
    const t = m.tree;
    t.setFile(this.path, this.theirs);
    const name = this.path.slice(this.path.lastIndexOf('/') + 1);
    const dot = name.lastIndexOf('.');
    t.conflictCopies.push({
      dir: parentOf(this.path),
      stem: dot > 0 ? name.slice(0, dot) : name,
      ext: dot > 0 ? name.slice(dot) : '',
      hash: versionOf(this.ours).hash,
    });
    m.dirty = false;
    // The change feed brings Bob's version in its own time: wait for it, then compare everything.
    const abs = join(r.mount.mountpoint, this.path);
    await eventually(
      () => (readOr(abs) === this.theirs.toString() ? true : undefined),
      this.toString(),
      WAIT_MS,
    );
    await check(m, r);
  }
  toString(): string {
    return `conflicting edit of ${this.path}`;
  }
}

/** SIGKILL of the daemon, lazy detach, mount again on the same cache: everything closed is still there. */
class Kill implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    await killDaemon(r.mount);
    r.mount = await mountMain(r);
    await check(m, r, r.mount.mountpoint, 'after the restart');
  }
  toString(): string {
    return 'kill -9 and remount';
  }
}

/** Flush, then a second mount with an empty cache shows the server's view: it must be the model too. */
class FreshMount implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    await flush(r);
    m.dirty = false;
    const fresh = await mountUnder(r.server, r.work, `fresh${++r.fresh}`, [], r.track);
    try {
      await check(m, r, fresh.mountpoint, 'on a fresh mount with an empty cache');
    } finally {
      await fresh.unmount();
    }
  }
  toString(): string {
    return 'fresh mount';
  }
}

const mountMain = (r: Pick<Real, 'server' | 'work' | 'track'>): Promise<MountProcess> =>
  mountUnder(r.server, r.work, 'main', ['--write-back', '600', '--poll-interval', '1'], r.track);

/** A command whose paths are chosen against the model when it is about to run (so nearly every step applies). */
class Chosen implements fc.AsyncCommand<Model, Real> {
  private chosen: fc.AsyncCommand<Model, Real> | undefined;
  constructor(
    readonly label: string,
    readonly make: (m: Model) => fc.AsyncCommand<Model, Real> | undefined,
  ) {}
  check(m: Model): boolean {
    this.chosen = this.make(m);
    return this.chosen?.check(m) ?? false;
  }
  run(m: Model, r: Real): Promise<void> {
    if (this.chosen === undefined) throw new Error(`${this.label}: run without check`);
    return this.chosen.run(m, r);
  }
  toString(): string {
    return this.chosen?.toString() ?? this.label;
  }
}

const pick = <T>(xs: readonly T[], sel: number): T | undefined =>
  xs.length === 0 ? undefined : xs[sel % xs.length];
const dirsOf = (m: Model): string[] => ['', ...[...m.tree.dirs].sort()];
const filesOf = (m: Model): string[] => [...m.tree.files.keys()].sort();
const sel = fc.nat();
const fileName = fc.constantFrom(...FILES);
const dirName = fc.constantFrom(...DIRS);
const inDir = <T>(m: Model, s: number, name: string, f: (at: [string, string]) => T): T | undefined => {
  const d = pick(dirsOf(m), s);
  return d === undefined ? undefined : f([d, name]);
};
const onFile = <T>(m: Model, s: number, f: (path: string) => T): T | undefined => {
  const p = pick(filesOf(m), s);
  return p === undefined ? undefined : f(p);
};

const write = fc
  .tuple(sel, fileName, bytes, fc.option(fc.nat(50_000), { nil: undefined }))
  .map(([s, n, b, o]) => new Chosen('write', (m) => inDir(m, s, n, (at) => new Write(at, b, o))));
const remote = (ops: ReadonlyArray<'edit' | 'create' | 'rename' | 'delete'>): fc.Arbitrary<Chosen> =>
  fc
    .tuple(fc.constantFrom(...ops), sel, fileName, bytes, fileName)
    .map(
      ([op, s, n, b, to]) =>
        new Chosen(`remote ${op}`, (m) =>
          op === 'create'
            ? inDir(m, s, n, (at) => new Remote(op, at, b, to))
            : onFile(m, s, (p) => new Remote(op, [parentOf(p), p.slice(p.lastIndexOf('/') + 1)], b, to)),
        ),
    );

// fc.commands picks uniformly among these: writes and mkdirs are listed more than once so trees grow.
const commands = [
  write,
  write,
  write,
  fc
    .tuple(sel, fc.nat(50_000))
    .map(([s, n]) => new Chosen('truncate', (m) => onFile(m, s, (p) => new Truncate(p, n)))),
  fc
    .tuple(sel, sel, fileName)
    .map(
      ([a, b, n]) =>
        new Chosen('rename file', (m) => onFile(m, a, (p) => inDir(m, b, n, (to) => new Rename(p, to)))),
    ),
  fc.tuple(sel, sel, dirName).map(
    ([a, b, n]) =>
      new Chosen('rename folder', (m) => {
        const from = pick([...m.tree.dirs].sort(), a);
        return from === undefined ? undefined : inDir(m, b, n, (to) => new Rename(from, to));
      }),
  ),
  sel.map((s) => new Chosen('unlink', (m) => onFile(m, s, (p) => new Unlink(p)))),
  fc.tuple(sel, dirName).map(([s, n]) => new Chosen('mkdir', (m) => inDir(m, s, n, (at) => new Mkdir(at)))),
  fc.tuple(sel, dirName).map(([s, n]) => new Chosen('mkdir', (m) => inDir(m, s, n, (at) => new Mkdir(at)))),
  sel.map(
    (s) =>
      new Chosen('rmdir', (m) => {
        const d = pick([...m.tree.dirs].sort(), s);
        return d === undefined ? undefined : new Rmdir(d);
      }),
  ),
  fc.constant(new Flush()),
  fc.constant(new Flush()),
  remote(['edit', 'create', 'rename', 'delete']),
  remote(['edit', 'create']),
  fc
    .tuple(sel, bytes, bytes)
    .map(
      ([s, a, b]) => new Chosen('conflicting edit', (m) => onFile(m, s, (p) => new ConflictingEdit(p, a, b))),
    ),
  fc.constant(new Kill()),
  fc.constant(new FreshMount()),
];

describe('model-based: local and remote operations, kills and fresh mounts (real mounts, child processes)', () => {
  let base: string;
  const track: string[] = [];
  const servers: ServerProcess[] = [];

  beforeAll(() => {
    assertE2EPrerequisites();
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    base = makeTempDir('model');
  });

  afterAll(async () => {
    await forceCleanup(track, [base], servers);
  });

  it(
    `agrees with the model after every step (${RUNS} runs of up to ${STEPS} steps, seed ${SEED})`,
    async () => {
      let run = 0;
      const steps: string[] = [];
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: STEPS, size: 'max' }), async (cmds) => {
          const work = join(base, `run${++run}`);
          await mkdir(work, { recursive: true });
          const server = await startServerProcess({
            dataDir: join(work, 'data'),
            extraArgs: [...ADMIN_ARGS],
          });
          servers.push(server);
          const real: Real = {
            server,
            work,
            track,
            mount: await mountMain({ server, work, track }),
            fresh: 0,
          };
          try {
            await fc.asyncModelRun(() => ({ model: { tree: new TreeModel(), dirty: false }, real }), cmds);
            steps.push((cmds as { toString(): string }).toString());
          } finally {
            await real.mount.unmount();
            await server.stop();
          }
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true, ...(PATH !== undefined ? { path: PATH } : {}) },
      );
      const ran = steps
        .join(',')
        .split(',')
        .filter((x) => x.trim() !== '').length;
      console.log(`model-based seed ${SEED}: ${RUNS} runs, ${ran} steps, 0 mismatches`);
      console.log(
        describePart({
          ...newCounts('model-based', SEED),
          operations: ran,
          extra: `${RUNS} fast-check runs`,
        }),
      );
      if (process.env['SPFS_MODEL_VERBOSE']) for (const s of steps) console.log(s);
      expect(ran).toBeGreaterThan(RUNS * 3);
    },
    RUNS * STEPS * 20_000 + 60_000,
  );
});
