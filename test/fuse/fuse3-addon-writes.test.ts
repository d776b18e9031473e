// The libfuse3 addon's write buffers, on a real mount of the addon with a minimal dispatcher (no spfs core): a
// write's bytes arrive in a buffer the addon reuses once the request is answered, so that a 256 MiB file does not
// become 2,048 fresh Buffers for V8 to collect; and bytes held while many writes wait are never overwritten.
import { constants, mkdirSync, rmdirSync } from 'node:fs';
import { execFile, spawn } from 'node:child_process';
import { constants as os } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadFuse3, OP, STAT_FIELDS, type Fuse3Addon, type Session } from '../../src/fuse/fuse3-addon';
import { assertE2EPrerequisites, makeTempDir } from '../helpers/spfs-processes';

jest.setTimeout(60_000);

const ROOT = 1;
const FILES = 12; // more writers at once than the addon has write buffers
const CHUNK = 64 * 1024;

/** What one file received: its writes' bytes (checked when answered) and the ArrayBuffers they came in. */
interface Received {
  bytes: Buffer;
  buffers: ArrayBufferLike[];
}

function stat(ino: number, size: number): Float64Array {
  const dir = ino === ROOT;
  const s = new Float64Array(STAT_FIELDS);
  s.set([ino, ino, (dir ? constants.S_IFDIR : constants.S_IFREG) | 0o644, 1, 0, 0, size, 0, 0, 0]);
  return s;
}

/** The content writer `n` writes: each byte tells its file and offset, so a byte from another write shows. */
const pattern = (n: number, chunks: number): Buffer =>
  Buffer.from(Array.from({ length: chunks * CHUNK }, (_, i) => (n * 31 + Math.floor(i / 251)) & 0xff));

/**
 * A filesystem of FILES empty files f0..f11 that records writes. While `hold` is set, write replies wait until that
 * many writes are pending at once, then go out together (their bytes compared only then).
 */
class Recorder {
  readonly files = new Map<number, Received>();
  readonly pending: Array<{ req: number; ino: number; off: number; data: Uint8Array; copy: Buffer }> = [];
  hold = 0;
  corrupted = 0;
  exited: Promise<void>;
  private onExit: () => void = () => undefined;

  constructor(private readonly addon: Fuse3Addon) {
    this.exited = new Promise((r) => (this.onExit = r));
  }

  readonly dispatch = (
    op: number,
    req: number,
    ino: number,
    _fh: number,
    off: number,
    _size: number,
    _flags: number,
    _mode: number,
    name: string | undefined,
    _n2: string | undefined,
    _ino2: number,
    data: Uint8Array | undefined,
  ): void => {
    const a = this.addon;
    const sizeOf = (i: number): number => this.files.get(i)?.bytes.length ?? 0;
    switch (op) {
      case OP.forget:
        return;
      case OP.exit:
        return this.onExit();
      case OP.lookup: {
        const m = /^f(\d+)$/.exec(name ?? '');
        const n = m === null ? -1 : Number(m[1]);
        if (ino !== ROOT || n < 0 || n >= FILES) return void a.replyErr(req, os.errno.ENOENT);
        return void a.replyEntry(req, stat(n + 2, sizeOf(n + 2)), 0, 0);
      }
      case OP.getattr:
      case OP.setattr:
        return void a.replyAttr(req, stat(ino, sizeOf(ino)), 0);
      case OP.open:
        return void a.replyOpen(req, ino, 0);
      case OP.flush:
      case OP.release:
        return void a.replyErr(req, 0);
      case OP.write: {
        const d = data ?? new Uint8Array(0);
        // Copied now to compare with what the view holds when answered: a reused buffer must not change under it.
        this.pending.push({ req, ino, off, data: d, copy: Buffer.from(d) });
        if (this.pending.length >= this.hold) this.answerWrites();
        return;
      }
      default:
        return void a.replyErr(req, os.errno.ENOSYS);
    }
  };

  private answerWrites(): void {
    for (const w of this.pending.splice(0)) {
      const now = Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength);
      if (!now.equals(w.copy)) this.corrupted++;
      const f = this.files.get(w.ino) ?? { bytes: Buffer.alloc(0), buffers: [] };
      const end = Math.max(f.bytes.length, w.off + now.length);
      const bytes = Buffer.alloc(end);
      f.bytes.copy(bytes);
      now.copy(bytes, w.off);
      this.files.set(w.ino, { bytes, buffers: [...f.buffers, w.data.buffer] });
      this.addon.replyWrite(w.req, now.length);
    }
  }
}

/** A child process writes `chunks` chunks of its pattern to `path` (the kernel blocks it while its write waits). */
function writeFrom(path: string, n: number, chunks: number): Promise<void> {
  const script = `
    const fs = require('fs'); const CHUNK = ${CHUNK}; const chunks = ${chunks}; const n = ${n};
    const b = Buffer.from(Array.from({ length: chunks * CHUNK }, (_, i) => (n * 31 + Math.floor(i / 251)) & 0xff));
    const fd = fs.openSync(${JSON.stringify(path)}, 'w');
    for (let c = 0; c < chunks; c++) fs.writeSync(fd, b, c * CHUNK, CHUNK, c * CHUNK);
    fs.closeSync(fd);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`writer ${n} exited ${code}: ${err}`)),
    );
  });
}

describe('libfuse3 addon write buffers (real mount of the addon, minimal dispatcher)', () => {
  let addon: Fuse3Addon;
  let dir: string;
  let mnt: string;
  let session: Session | undefined;
  let rec: Recorder;

  beforeAll(() => {
    assertE2EPrerequisites();
    const loaded = loadFuse3();
    if (loaded instanceof Error) throw loaded; // the suite's setup builds it: its absence is a failure, not a skip
    addon = loaded;
  });

  beforeEach(() => {
    dir = makeTempDir('addon-writes');
    mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    rec = new Recorder(addon);
    session = addon.mount(mnt, 'fsname=spfs-addon-test,subtype=spfs', 1 << 20, 1 << 20, 16, rec.dispatch);
  });

  afterEach(async () => {
    if (session !== undefined) {
      await promisify(execFile)('fusermount3', ['-u', '-z', mnt]).catch(() => undefined);
      await rec.exited;
      addon.destroy(session);
      session = undefined;
    }
    rmdirSync(mnt);
    rmdirSync(dir);
  });

  it("one program's successive writes all arrive in the same reused buffer, with their own bytes", async () => {
    const chunks = 16;
    await writeFrom(join(mnt, 'f0'), 0, chunks);
    const f = rec.files.get(2);
    expect(f?.bytes.equals(pattern(0, chunks))).toBe(true);
    expect(f?.buffers).toHaveLength(chunks);
    expect(new Set(f?.buffers).size).toBe(1);
    expect(rec.corrupted).toBe(0);
  });

  it('writes held unanswered from more programs than there are buffers keep their bytes until answered', async () => {
    const chunks = 4;
    rec.hold = FILES; // every writer's write waits until all of them have one pending
    await Promise.all(Array.from({ length: FILES }, (_, n) => writeFrom(join(mnt, `f${n}`), n, chunks)));
    expect(rec.corrupted).toBe(0);
    for (let n = 0; n < FILES; n++) expect(rec.files.get(n + 2)?.bytes.equals(pattern(n, chunks))).toBe(true);
    // Some of the writes held at once came in buffers of their own (the addon's were all taken), the rest in reused.
    const all = [...rec.files.values()].flatMap((f) => f.buffers);
    expect(new Set(all).size).toBeLessThan(all.length);
    expect(all.some((b) => b.byteLength === CHUNK)).toBe(true);
  });
});
