// The concurrency part's worker processes (test/reliability/concurrency.test.ts): one `node -e` child per role, so
// the operations run in processes of their own, as applications would, never in jest's event loop. Each worker runs
// synchronous fs calls for `durationMs`, timing each one, and prints JSON lines: `closed` for every version it closed
// (or renamed into place), `final` for the content it expects a file to end with, and one `done` with its counts.
// Content is self-describing (`version()`): a reader can tell a whole version from a torn or mixed one.

export interface VersionId {
  file: string;
  writer: string;
  seq: number;
}

/**
 * Version `seq` of `file` by `writer`, `len` bytes: a header line naming them, then a filler derived from them; and
 * the version a content is, if it is exactly one (not torn, mixed, cut or padded). Plain JavaScript, so the workers
 * run the very same text.
 */
const VERSION_SOURCE = `
function version(file, writer, seq, len) {
  const head = file + ' ' + writer + ' ' + seq + ' ' + len + '\\n';
  const unit = writer + ':' + seq + ';';
  let body = '';
  while (head.length + body.length < len) body += unit;
  return head + body.slice(0, Math.max(0, len - head.length));
}
function parseVersion(content) {
  const m = /^(\\S+) (\\S+) (\\d+) (\\d+)\\n/.exec(content);
  if (m === null) return undefined;
  if (version(m[1], m[2], Number(m[3]), Number(m[4])) !== content) return undefined;
  return { file: m[1], writer: m[2], seq: Number(m[3]) };
}
`;

interface VersionCodec {
  version: (file: string, writer: string, seq: number, len: number) => string;
  parseVersion: (content: string) => VersionId | undefined;
}

// eslint-disable-next-line @typescript-eslint/no-implied-eval -- the one text both sides run
const makeCodec = new Function(`${VERSION_SOURCE}; return { version, parseVersion };`) as () => VersionCodec;
export const { version, parseVersion } = makeCodec();

export type Role =
  /** Saves whole versions of shared files by writing `<file>.part-<id>` and renaming it over the file. */
  | 'saver'
  /** Rewrites files in place (open O_TRUNC, write, close); it is their only writer on its mount. */
  | 'rewriter'
  /** Reads files over and over; with `whole`, every read must be exactly one version. */
  | 'reader'
  /** Its own files: rewrites, appends, truncates, writes in the middle; every read back must match its model. */
  | 'owner'
  /** Lists folders while others change them: `stable` names must be in every listing, no name twice. */
  | 'lister'
  /** Creates, renames and deletes files and folders of its own in a folder others list. */
  | 'churner'
  /** Holds a file open across renames of its folder, writing and reading through the descriptor and the new path. */
  | 'renamer';

export interface WorkerConfig {
  role: Role;
  id: string;
  seed: number;
  durationMs: number;
  /** Files (saver, rewriter, reader), folders (lister, churner, owner), or the two folder names to swap (renamer). */
  paths: string[];
  /** lister: the names that must be in every listing of paths[i]. */
  stable?: string[][];
  /** Largest version written, bytes. */
  maxBytes?: number;
  /** reader: every read must be one whole version (files only ever replaced by rename). */
  whole?: boolean;
  /** reader: errnos docs/SEMANTICS.md gives for what it races with (counted apart, not as surprises). */
  allowed?: string[];
}

export interface WorkerError {
  op: string;
  path: string;
  code: string;
}

export type WorkerLine =
  | { type: 'closed'; file: string; writer: string; seq: number; t: number }
  | { type: 'final'; path: string; content: string }
  | {
      type: 'done';
      id: string;
      ops: number;
      maxMs: number;
      maxOp: string;
      errors: WorkerError[];
      /** Errors in `allowed`, by errno. */
      expected: Record<string, number>;
      mismatches: string[];
    };

/** The worker's source: `node -e WORKER_SOURCE '<json WorkerConfig>'`. */
export const WORKER_SOURCE = `
const fs = require('node:fs');
const path = require('node:path');
// libuv names no ESTALE (its message is 'Unknown system error -116'): name errnos from the kernel's numbers.
const ERRNO_NAMES = Object.fromEntries(Object.entries(require('node:os').constants.errno).map(([k, v]) => [v, k]));
const codeOf = (e) => (typeof e.errno === 'number' && ERRNO_NAMES[-e.errno]) || e.code;
${VERSION_SOURCE}
const cfg = JSON.parse(process.argv[1]);
let seed = cfg.seed >>> 0;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
};
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const sizeOf = () => 64 + Math.floor(rnd() ** 3 * (cfg.maxBytes || 64 * 1024));
const out = (o) => fs.writeSync(1, JSON.stringify(o) + '\\n');
const FAILED = Symbol('failed');
let ops = 0, maxMs = 0, maxOp = '';
const errors = [], mismatches = [], expected = {};
/** One timed operation; an error not in 'allowed' is recorded; any error returns FAILED. */
function op(name, p, fn, allowed) {
  const t0 = performance.now();
  try {
    return fn();
  } catch (e) {
    const code = codeOf(e);
    if ((cfg.allowed || []).includes(code)) expected[code] = (expected[code] || 0) + 1;
    else if (!(allowed || []).includes(code)) errors.push({ op: name, path: p, code: code || String(e) });
    return FAILED;
  } finally {
    const ms = performance.now() - t0;
    ops++;
    if (ms > maxMs) { maxMs = ms; maxOp = name + ' ' + p; }
  }
}
const mismatch = (what) => { if (mismatches.length < 50) mismatches.push(what); };
const describe = (c) => typeof c !== 'string' ? String(c) : c.length + ' bytes starting ' + JSON.stringify(c.slice(0, 40));
const end = Date.now() + cfg.durationMs;
const seqs = new Map();
const nextSeq = (f) => { const n = (seqs.get(f) || 0) + 1; seqs.set(f, n); return n; };

const roles = {
  saver() {
    const f = pick(cfg.paths), base = path.basename(f), seq = nextSeq(f);
    const tmp = f + '.part-' + cfg.id;
    if (op('write', tmp, () => fs.writeFileSync(tmp, version(base, cfg.id, seq, sizeOf()))) === FAILED) return;
    if (op('rename', tmp, () => fs.renameSync(tmp, f)) === FAILED) return;
    out({ type: 'closed', file: base, writer: cfg.id, seq, t: Date.now() });
  },
  rewriter() {
    const f = pick(cfg.paths), base = path.basename(f), seq = nextSeq(f);
    if (op('rewrite', f, () => fs.writeFileSync(f, version(base, cfg.id, seq, sizeOf()))) === FAILED) return;
    out({ type: 'closed', file: base, writer: cfg.id, seq, t: Date.now() });
  },
  reader() {
    const f = pick(cfg.paths);
    const c = op('read', f, () => fs.readFileSync(f, 'utf8'));
    if (c !== FAILED && cfg.whole && parseVersion(c) === undefined) mismatch(f + ': not one whole version: ' + describe(c));
  },
  owner: (() => {
    const models = new Map();
    const step = () => {
      const dir = cfg.paths[0];
      const f = path.join(dir, cfg.id + '-' + Math.floor(rnd() * 3) + '.bin');
      let m = models.get(f) || Buffer.alloc(0);
      const kind = m.length === 0 ? 0 : Math.floor(rnd() * 4);
      const chunk = Buffer.from(version(path.basename(f), cfg.id, nextSeq(f), sizeOf()));
      let r;
      if (kind === 0) { r = op('rewrite', f, () => fs.writeFileSync(f, chunk)); m = chunk; }
      else if (kind === 1) { r = op('append', f, () => fs.appendFileSync(f, chunk)); m = Buffer.concat([m, chunk]); }
      else if (kind === 2) {
        const len = Math.floor(rnd() * m.length);
        r = op('truncate', f, () => fs.truncateSync(f, len)); m = m.subarray(0, len);
      } else {
        const at = Math.floor(rnd() * m.length);
        r = op('pwrite', f, () => { const fd = fs.openSync(f, 'r+'); try { fs.writeSync(fd, chunk, 0, chunk.length, at); } finally { fs.closeSync(fd); } });
        const grown = Buffer.alloc(Math.max(m.length, at + chunk.length));
        m.copy(grown); chunk.copy(grown, at); m = grown;
      }
      if (r === FAILED) { models.delete(f); return; }
      models.set(f, m);
      const back = op('read', f, () => fs.readFileSync(f));
      if (back !== FAILED && !back.equals(m)) mismatch(f + ': read back ' + back.length + ' bytes, wrote ' + m.length);
    };
    const finish = () => { for (const [p, c] of models) out({ type: 'final', path: p, content: c.toString('latin1') }); };
    return { step, finish };
  })(),
  lister() {
    cfg.paths.forEach((dir, i) => {
      const names = op('readdir', dir, () => fs.readdirSync(dir));
      if (names === FAILED) return;
      if (new Set(names).size !== names.length) mismatch(dir + ': a name listed twice: ' + names.join(','));
      for (const s of (cfg.stable || [])[i] || []) if (!names.includes(s)) mismatch(dir + ': ' + s + ' missing from a listing');
      for (const n of names) op('stat', path.join(dir, n), () => fs.statSync(path.join(dir, n)), ['ENOENT']);
    });
  },
  churner: (() => {
    const live = new Map();
    let n = 0;
    const step = () => {
      const dir = cfg.paths[0];
      const k = Math.floor(rnd() * 5);
      if (k <= 1 || live.size === 0) {
        const f = path.join(dir, 'churn-' + cfg.id + '-' + n++ + '.txt');
        const c = version(path.basename(f), cfg.id, n, sizeOf());
        if (op('create', f, () => fs.writeFileSync(f, c, { flag: 'wx' })) !== FAILED) live.set(f, c);
      } else if (k === 2) {
        const [f, c] = pick([...live]);
        const to = path.join(dir, 'churn-' + cfg.id + '-' + n++ + '.txt');
        if (op('rename', f, () => fs.renameSync(f, to)) !== FAILED) { live.delete(f); live.set(to, c); }
      } else if (k === 3) {
        const [f] = pick([...live]);
        if (op('unlink', f, () => fs.unlinkSync(f)) !== FAILED) live.delete(f);
      } else {
        const d = path.join(dir, 'dir-' + cfg.id + '-' + n++);
        if (op('mkdir', d, () => fs.mkdirSync(d)) === FAILED) return;
        op('create', d + '/x', () => fs.writeFileSync(d + '/x', 'x'));
        op('unlink', d + '/x', () => fs.unlinkSync(d + '/x'));
        op('rmdir', d, () => fs.rmdirSync(d));
      }
      const [f, c] = live.size > 0 ? pick([...live]) : [undefined];
      if (f !== undefined) {
        const back = op('read', f, () => fs.readFileSync(f, 'utf8'));
        if (back !== FAILED && back !== c) mismatch(f + ': read ' + describe(back) + ', wrote ' + c.length + ' bytes');
      }
    };
    const finish = () => { for (const [p, content] of live) out({ type: 'final', path: p, content }); };
    return { step, finish };
  })(),
  renamer: (() => {
    const [a, b] = cfg.paths;
    let cur = a, model = Buffer.alloc(0);
    let fd, rfd;
    const step = () => {
      if (fd === undefined) {
        model = Buffer.from(version('held.bin', cfg.id, 0, 4096));
        fs.writeFileSync(path.join(cur, 'held.bin'), model);
        fd = fs.openSync(path.join(cur, 'held.bin'), 'r+');
        rfd = fs.openSync(path.join(cur, 'held.bin'), 'r');
      }
      const to = cur === a ? b : a;
      if (op('rename', cur, () => fs.renameSync(cur, to)) !== FAILED) cur = to;
      const chunk = Buffer.from(version('held.bin', cfg.id, nextSeq('held'), 64 + Math.floor(rnd() * 8192)));
      const at = Math.floor(rnd() * (model.length + 1));
      if (op('pwrite', 'fd', () => fs.writeSync(fd, chunk, 0, chunk.length, at)) !== FAILED) {
        const grown = Buffer.alloc(Math.max(model.length, at + chunk.length));
        model.copy(grown); chunk.copy(grown, at); model = grown;
      }
      const viaFd = Buffer.alloc(model.length);
      const n = op('pread', 'read-only fd', () => fs.readSync(rfd, viaFd, 0, model.length, 0));
      if (n !== FAILED && (n !== model.length || !viaFd.equals(model))) mismatch('held.bin through the read-only fd: ' + n + ' bytes, not what was written');
      const st = op('fstat', 'fd', () => fs.fstatSync(fd));
      if (st !== FAILED && st.size !== model.length) mismatch('held.bin fstat size ' + st.size + ', wrote ' + model.length);
      const p = path.join(cur, 'held.bin');
      const viaPath = op('read', p, () => fs.readFileSync(p));
      if (viaPath !== FAILED && !viaPath.equals(model)) mismatch(p + ': ' + viaPath.length + ' bytes, not what the fd wrote (' + model.length + ')');
    };
    const finish = () => {
      op('close', 'fd', () => fs.closeSync(fd));
      op('close', 'read-only fd', () => fs.closeSync(rfd));
      out({ type: 'final', path: path.join(cur, 'held.bin'), content: model.toString('latin1') });
    };
    return { step, finish };
  })(),
};
const role = roles[cfg.role];
const step = role.step || role;
do step(); while (Date.now() < end);
if (role.finish) role.finish();
out({ type: 'done', id: cfg.id, ops, maxMs: Math.round(maxMs), maxOp, errors, expected, mismatches });
`;
