// Reliability part 5, hostile names and inputs from the local side, on real mounts of the reference server: names
// SharePoint refuses (generated with fast-check), paths at and past the 400-character limit, case-only and NFC/NFD
// renames, a full cache disk (a small tmpfs), a read-only cache folder and a cache folder on another filesystem.
// Each must give its documented errno (docs/SEMANTICS.md) and lose nothing: after each case, a flush and a fresh
// mount with an empty cache show every file whose close() succeeded, with its bytes, and nothing refused.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { unsafeNameReason } from '../../src/shared/names';
import { sharePointNameProblem, sharePointPathChars } from '../../src/shared/sharepoint-names';
import { isLocalOnlyName } from '../../src/vfs/write-rules';
import {
  cleanLine,
  describePart,
  newCounts,
  processUsage,
  reliabilityScale,
  reliabilitySeed,
  replayHint,
} from '../helpers/reliability-counts';
import {
  assertE2EPrerequisites,
  daemonPids,
  forceCleanup,
  isMounted,
  makeTempDir,
  mountUnder,
  runSpfs,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

const FILE = 'test/reliability/local-inputs.test.ts';
const SEED = reliabilitySeed(20261205);
const LONG = reliabilityScale() === 'long';
const NAMES = LONG ? 400 : 40;
const MIB = 1024 * 1024;

const counts = newCounts('local-inputs', SEED);
/** What went wrong, for the failure message (the counts line says how much). */
const details: string[] = [];
/** Every file whose close() succeeded, library-relative path → bytes; folders made. What a fresh mount must show. */
const closed = new Map<string, Buffer>();
const folders = new Set<string>();

let work: string;
let server: ServerProcess;
let main: MountProcess;
const mountpoints: string[] = [];
const tmpfsMounts: string[] = [];
let freshCount = 0;

const state = (): NodeJS.ProcessEnv => ({ SPFS_STATE_DIR: join(work, 'state') });
const errnoOf = async (op: () => Promise<unknown>): Promise<string> => {
  try {
    await op();
    return 'none';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
};

/** Runs one operation; an errno outside `allowed` is an errno surprise. */
async function attempt(
  what: string,
  allowed: readonly string[],
  op: () => Promise<unknown>,
): Promise<string> {
  counts.operations++;
  const got = await errnoOf(op);
  if (!allowed.includes(got)) {
    counts.errnoSurprises++;
    details.push(`${what}: ${got} (expected ${allowed.join(' or ')})`);
  }
  return got;
}

async function writeClosed(
  m: MountProcess,
  path: string,
  bytes: Buffer,
  allowed = ['none'],
): Promise<string> {
  const got = await attempt(`write ${path}`, allowed, () => writeFile(join(m.mountpoint, path), bytes));
  if (got === 'none') closed.set(path, bytes);
  return got;
}

async function mkdirKept(m: MountProcess, path: string, allowed = ['none']): Promise<string> {
  const got = await attempt(`mkdir ${path}`, allowed, () => mkdir(join(m.mountpoint, path)));
  if (got === 'none') folders.add(path);
  return got;
}

function renamedInModel(from: string, to: string): void {
  for (const [p, b] of [...closed]) {
    if (p === from || p.startsWith(`${from}/`)) {
      closed.delete(p);
      closed.set(to + p.slice(from.length), b);
    }
  }
  for (const d of [...folders]) {
    if (d === from || d.startsWith(`${from}/`)) {
      folders.delete(d);
      folders.add(to + d.slice(from.length));
    }
  }
}

async function flush(m: MountProcess): Promise<void> {
  const r = await runSpfs(['flush', m.mountpoint], state());
  if (r.code !== 0 || !r.stdout.includes('everything is on the server')) {
    counts.errnoSurprises++;
    details.push(`flush of ${m.mountpoint}: exit ${r.code}: ${r.stdout}${r.stderr}`);
  }
}

/** Every file and folder under `root`, library-relative. */
async function walk(root: string, rel = ''): Promise<{ files: string[]; dirs: string[] }> {
  const out = { files: [] as string[], dirs: [] as string[] };
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) {
      out.dirs.push(p);
      const sub = await walk(root, p);
      out.files.push(...sub.files);
      out.dirs.push(...sub.dirs);
    } else out.files.push(p);
  }
  return out;
}

/** A fresh mount with an empty cache (another machine) must show exactly what was closed, with its bytes. */
async function verifyFresh(label: string): Promise<void> {
  await flush(main);
  const name = `fresh-${freshCount++}`;
  const m = await mountUnder(server, work, name, [], mountpoints);
  try {
    const seen = await walk(m.mountpoint);
    const seenFiles = new Set(seen.files);
    for (const [p, bytes] of closed) {
      if (!seenFiles.has(p)) {
        counts.lost++;
        details.push(`${label}: ${p} closed successfully but missing from a fresh mount`);
        continue;
      }
      const got = await readFile(join(m.mountpoint, p));
      counts.bytesVerified += got.length;
      if (!got.equals(bytes)) {
        counts.mismatches++;
        details.push(`${label}: ${p} has other bytes on the server (${got.length} for ${bytes.length})`);
      }
    }
    for (const p of seen.files.filter((f) => !closed.has(f))) {
      counts.mismatches++;
      details.push(`${label}: ${p} is on the server but no close() of it succeeded`);
    }
    const seenDirs = new Set(seen.dirs);
    for (const d of folders) {
      if (!seenDirs.has(d)) {
        counts.lost++;
        details.push(`${label}: folder ${d} missing from a fresh mount`);
      }
    }
  } finally {
    await m.unmount();
    rmSync(m.cacheDir, { recursive: true, force: true });
  }
}

/** A tmpfs of `size` on `dir` (we are root), unmounted in afterAll whatever happens. */
function mountTmpfs(dir: string, options: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  tmpfsMounts.push(dir);
}

function remountTmpfs(dir: string, options: string): void {
  execFileSync('mount', ['-o', `remount,${options}`, dir]);
}

// Names a single path segment can carry to the daemon (no '/', no NUL), each with what the mount must answer.
const hostileName = fc
  .oneof(
    fc
      .tuple(
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.constantFrom(...'"*:<>?\\|'),
        fc.string({ maxLength: 8 }),
      )
      .map(([a, c, b]) => `${a}${c}${b}`),
    fc.string({ minLength: 1, maxLength: 10 }).map((s) => `${s}.`),
    fc.string({ minLength: 1, maxLength: 10 }).map((s) => ` ${s}`),
    fc.string({ minLength: 1, maxLength: 10 }).map((s) => `${s} `),
    fc
      .tuple(
        fc.constantFrom('CON', 'prn', 'Aux', 'nul', 'COM1', 'lpt9', 'com0'),
        fc.constantFrom('', '.txt', '.tar.gz'),
      )
      .map(([a, b]) => a + b),
    fc.constantFrom('desktop.ini', 'Desktop.INI', '.lock', '.LOCK'),
    fc.string({ maxLength: 8 }).map((s) => `${s}_vti_${s}`),
    fc
      .tuple(fc.string({ minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 31 }))
      .map(([s, c]) => `${s}${String.fromCharCode(c)}x`),
    // Longer than a name may be (255 bytes): the kernel refuses before the daemon sees it.
    fc.integer({ min: 86, max: 120 }).map((n) => 'ü'.repeat(n) + 'x'),
  )
  .filter((s) => s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0'));
// Odd but legal names: they must upload and come back byte for byte.
const legalName = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 24 })
  .map((s) => s.normalize('NFC'))
  .filter(
    (s) =>
      !s.includes('/') &&
      !s.includes('\0') &&
      sharePointNameProblem(s) === undefined &&
      unsafeNameReason(s) === undefined &&
      !isLocalOnlyName(s),
  );

/** What docs/SEMANTICS.md says a create, mkdir or rename to `name` answers. */
function expectedErrno(name: string): string {
  if (Buffer.byteLength(name) > 255) return 'ENAMETOOLONG';
  if (sharePointNameProblem(name) !== undefined || unsafeNameReason(name) !== undefined) return 'EINVAL';
  return 'none';
}

describe('reliability: hostile names and inputs from the local side', () => {
  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('rel-local');
    server = await startServerProcess({ dataDir: join(work, 'server') });
    main = await mountUnder(server, work, 'main', ['--write-back', '0'], mountpoints);
  }, 60_000);

  afterAll(async () => {
    console.log(describePart(counts));
    for (const m of mountpoints) if (isMounted(m)) await runSpfs(['unmount', '--force', m], state());
    try {
      await forceCleanup(mountpoints, [], []);
    } finally {
      for (const d of tmpfsMounts.reverse()) {
        try {
          execFileSync('umount', ['-l', d], { stdio: 'ignore' });
        } catch {
          // not mounted any more
        }
      }
      await forceCleanup([], work ? [work] : [], server ? [server] : []);
    }
  }, 120_000);

  it('names SharePoint refuses are refused at once with their errno; odd legal names upload', async () => {
    await mkdirKept(main, 'names');
    await writeClosed(main, 'names/plain.txt', Buffer.from('plain'));
    const hostile = fc.sample(hostileName, { seed: SEED, numRuns: NAMES });
    for (const [i, name] of hostile.entries()) {
      const want = expectedErrno(name);
      const how = i % 3;
      // The sample repeats names: a file created, or a file renamed, onto a folder made earlier under exactly that
      // name is EISDIR, as on any local filesystem (open(2) and rename(2)); a variant of a taken name is EEXIST.
      const ontoFolder = how !== 1 && folders.has(`names/${name}`);
      const allowed = want !== 'none' ? [want] : ontoFolder ? ['EISDIR'] : ['none', 'EEXIST'];
      const target = join(main.mountpoint, 'names', name);
      if (how === 0) {
        const got = await attempt(`create ${JSON.stringify(name)}`, allowed, () => writeFile(target, 'x'));
        if (got === 'none' && !isLocalOnlyName(name)) closed.set(`names/${name}`, Buffer.from('x'));
      } else if (how === 1) {
        const got = await attempt(`mkdir ${JSON.stringify(name)}`, allowed, () => mkdir(target));
        if (got === 'none') folders.add(`names/${name}`);
      } else {
        const got = await attempt(`rename to ${JSON.stringify(name)}`, allowed, () =>
          rename(join(main.mountpoint, 'names/plain.txt'), target),
        );
        if (got === 'none') {
          renamedInModel('names/plain.txt', `names/${name}`);
          await rename(target, join(main.mountpoint, 'names/plain.txt'));
          renamedInModel(`names/${name}`, 'names/plain.txt');
        }
      }
    }
    const legal = fc.sample(legalName, { seed: SEED + 1, numRuns: NAMES });
    // Folded name → the exact name that took it: the same name again overwrites that file; a variant is EEXIST.
    const taken = new Map<string, string>([['plain.txt', 'plain.txt']]);
    for (const name of legal) {
      const key = name.normalize('NFC').toLowerCase();
      const holder = taken.get(key);
      const want = holder === undefined || holder === name ? 'none' : 'EEXIST';
      if (holder === undefined) taken.set(key, name);
      await writeClosed(main, `names/${name}`, Buffer.from(`legal ${name}`), [want]);
    }
    await verifyFresh('names');
  }, 60_000);

  it('paths up to 400 characters as SharePoint counts them upload; one more is EINVAL', async () => {
    const rng = fc.sample(fc.integer({ min: 20, max: 120 }), { seed: SEED + 2, numRuns: 20 });
    let dir = 'deep';
    await mkdirKept(main, dir);
    for (const len of rng) {
      const next = `${dir}/${'d'.repeat(len)}`;
      const fits = sharePointPathChars(next.split('/')) <= 400;
      if ((await mkdirKept(main, next, [fits ? 'none' : 'EINVAL'])) !== 'none') break;
      dir = next;
    }
    // A file exactly at the limit, and one character past it.
    let deepest = sharePointPathChars(dir.split('/'));
    const room = 400 - deepest - 1;
    if (room > 0) {
      await writeClosed(main, `${dir}/${'x'.repeat(room)}`, Buffer.from('at the limit'));
      await writeClosed(main, `${dir}/${'y'.repeat(room + 1)}`, Buffer.from('past'), ['EINVAL']);
      deepest = 400;
    }
    // Renaming the top folder 2 characters longer pushes the deepest path past the limit, unless it has room.
    const fits = deepest + 2 <= 400;
    const got = await attempt('rename deep → deeper', [fits ? 'none' : 'EINVAL'], () =>
      rename(join(main.mountpoint, 'deep'), join(main.mountpoint, 'deeper')),
    );
    if (got === 'none') renamedInModel('deep', 'deeper');
    await verifyFresh('paths');
  }, 60_000);

  it('case-only and NFC/NFD renames of files and folders go through; variants of taken names are EEXIST', async () => {
    await mkdirKept(main, 'case');
    const words = fc.sample(
      fc.constantFrom('café', 'Ärger', 'naïve', 'Ωmega', 'résumé', 'Zürich', 'crème brûlée', 'Ångström'),
      { seed: SEED + 3, numRuns: 4 },
    );
    for (const [i, w] of [...new Set(words)].entries()) {
      const nfc = `${w} ${i}.txt`.normalize('NFC');
      const nfd = nfc.normalize('NFD');
      await writeClosed(main, `case/${nfc}`, Buffer.from(nfc));
      if (nfd !== nfc) await writeClosed(main, `case/${nfd}`, Buffer.from('variant'), ['EEXIST']);
      await writeClosed(main, `case/${nfc.toUpperCase()}`, Buffer.from('upper'), ['EEXIST']);
      if (nfc !== nfd) {
        await attempt(`rename NFC → NFD ${nfc}`, ['none'], () =>
          rename(join(main.mountpoint, 'case', nfc), join(main.mountpoint, 'case', nfd)),
        );
        renamedInModel(`case/${nfc}`, `case/${nfd}`);
      }
    }
    await writeClosed(main, 'case/a.txt', Buffer.from('a'));
    await attempt('rename a.txt → A.txt', ['none'], () =>
      rename(join(main.mountpoint, 'case/a.txt'), join(main.mountpoint, 'case/A.txt')),
    );
    renamedInModel('case/a.txt', 'case/A.txt');
    await mkdirKept(main, 'case/Sub');
    await writeClosed(main, 'case/Sub/inside.txt', Buffer.from('inside'));
    await attempt('rename Sub → SUB', ['none'], () =>
      rename(join(main.mountpoint, 'case/Sub'), join(main.mountpoint, 'case/SUB')),
    );
    renamedInModel('case/Sub', 'case/SUB');
    await writeClosed(main, 'case/other.txt', Buffer.from('other'));
    await attempt('rename other.txt onto a case variant of A.txt', ['EEXIST'], () =>
      rename(join(main.mountpoint, 'case/other.txt'), join(main.mountpoint, 'case/a.txt')),
    );
    await attempt('stat a variant', ['ENOENT'], () => stat(join(main.mountpoint, 'case/a.TXT')));
    await verifyFresh('case');
  }, 60_000);

  it('a cache folder on another filesystem (tmpfs) works like any other', async () => {
    const cache = join(work, 'cache-tmpfs');
    mountTmpfs(cache, 'size=64m');
    const m = await mountUnder(server, work, 'tmpfs', ['--write-back', '0'], mountpoints);
    await mkdirKept(m, 'elsewhere');
    for (let i = 0; i < 6; i++) await writeClosed(m, `elsewhere/f${i}.bin`, Buffer.alloc(200_000 + i, i));
    await attempt('rename across folders', ['none'], () =>
      rename(join(m.mountpoint, 'elsewhere/f0.bin'), join(m.mountpoint, 'names/f0.bin')),
    );
    renamedInModel('elsewhere/f0.bin', 'names/f0.bin');
    counts.operations++;
    expect((await readFile(join(m.mountpoint, 'case/A.txt'))).toString()).toBe('a');
    await flush(m);
    expect((await m.unmount()).code).toBe(0);
    await verifyFresh('other filesystem');
  }, 60_000);

  it('a full cache disk: ENOSPC, the daemon keeps serving, and every closed file uploads once space is back', async () => {
    const cache = join(work, 'cache-full');
    mountTmpfs(cache, 'size=8m');
    const m = await mountUnder(server, work, 'full', ['--write-back', '0'], mountpoints);
    const failed: string[] = [];
    for (let i = 0; i < 16 && failed.length < 3; i++) {
      const p = `full-${i}.bin`;
      const bytes = Buffer.alloc(MIB, i + 1);
      if ((await writeClosed(m, p, bytes, ['none', 'ENOSPC'])) !== 'none') failed.push(p);
    }
    counts.faults += failed.length;
    expect(failed.length).toBeGreaterThan(0); // the disk did fill
    // A read that needs the cache while it is full: its bytes or ENOSPC, nothing else.
    await attempt('read an uncached file on a full cache', ['none', 'ENOSPC'], () =>
      readFile(join(m.mountpoint, 'elsewhere/f1.bin')),
    );
    const status = await runSpfs(['status', m.mountpoint], state());
    counts.operations++;
    expect(status.stdout).not.toMatch(/STALE|dead/);
    expect(status.code).toBe(0);
    // Space comes back (the user cleaned up): what failed is removed, everything closed goes up.
    remountTmpfs(cache, 'size=64m');
    for (const p of failed) await rm(join(m.mountpoint, p), { force: true });
    await flush(m);
    expect((await m.unmount()).code).toBe(0);
    await verifyFresh('full cache disk');
  }, 90_000);

  it('a read-only cache folder: the mount refuses, naming the folder; nothing in it is lost', async () => {
    // An empty read-only tmpfs, and the full case's cache once its disk turned read-only.
    const empty = join(work, 'cache-ro');
    mountTmpfs(empty, 'ro,size=1m');
    mkdirSync(join(work, 'mnt-ro'), { recursive: true });
    const used = join(work, 'cache-full');
    remountTmpfs(used, 'ro');
    for (const [name, cacheDir] of [
      ['ro', empty],
      ['full', used],
    ] as const) {
      const mnt = join(work, `mnt-${name}`);
      counts.operations++;
      const r = await runSpfs(
        [
          'mount',
          server.url,
          mnt,
          '--user',
          server.user,
          '--password-env',
          'SPFS_TEST_PASSWORD',
          '--cache-dir',
          cacheDir,
        ],
        { SPFS_TEST_PASSWORD: server.password, ...state() },
      );
      const clear =
        r.stderr.includes(`the cache folder ${cacheDir} cannot be written`) && /read-only/.test(r.stderr);
      if (r.code === 0 || isMounted(mnt) || !clear) {
        counts.errnoSurprises++;
        details.push(
          `mount on read-only ${cacheDir}: exit ${r.code}, mounted ${isMounted(mnt)}: ${r.stderr}`,
        );
      }
    }
    remountTmpfs(used, 'rw');
    const again = await mountUnder(server, work, 'full', [], mountpoints);
    counts.operations++;
    expect((await readFile(join(again.mountpoint, 'full-0.bin'))).length).toBe(MIB);
    expect((await again.unmount()).code).toBe(0);
    await verifyFresh('read-only cache');
  }, 60_000);

  it('prints the counts line: no lost file, no mismatch, no errno surprise', () => {
    for (const pid of daemonPids(main.cacheDir))
      counts.maxRssBytes = Math.max(counts.maxRssBytes, processUsage(pid).hwmBytes);
    const line = describePart(counts);
    expect(line + (details.length > 0 ? `\n${details.join('\n')}\n${replayHint(FILE, SEED)}` : '')).toBe(
      cleanLine(counts),
    );
  });
});
