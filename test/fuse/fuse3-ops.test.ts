// Fuse3Ops with a recording addon in place of libfuse3: what it answers a folder's OPENDIR, READDIR and RELEASEDIR,
// and when it tells the kernel to drop a cached listing. The real kernel is in test/e2e/fuse3-adapter.test.ts; here
// are the orderings a kernel cannot be made to produce on demand (a change committed while a listing is taken).
import { constants } from 'node:fs';
import { silentLogger } from '../../src/shared/logger';
import { asItemId, type ItemId } from '../../src/shared/ids';
import { NOTIFY, OP, OPEN_FLAGS, type Fuse3Addon, type Session } from '../../src/fuse/fuse3-addon';
import { Fuse3Ops } from '../../src/fuse/fuse3-ops';
import type { DirEntry, FileAttr, Filesystem } from '../../src/vfs/types';

const FOLDER_INO = 3;
const FOLDER_ID = asItemId('0123456789abcdef0123456789abcdef');

function attr(ino: number, dir: boolean): FileAttr {
  const t = new Date(0);
  return {
    ino,
    mode: (dir ? constants.S_IFDIR : constants.S_IFREG) | 0o755,
    nlink: 1,
    uid: 0,
    gid: 0,
    size: 1,
    atime: t,
    mtime: t,
    ctime: t,
  };
}

interface Recorded {
  opens: Array<{ req: number; fh: number; flags: number }>;
  dirents: Array<{ req: number; names: readonly string[] }>;
  notified: Array<{ kind: number; ino: number }>;
  errors: Array<{ req: number; errno: number }>;
}

function recordingAddon(r: Recorded): Fuse3Addon {
  const ok = (): number => 0;
  return {
    libfuseVersion: 'recorded',
    mount: () => ({}) as Session,
    destroy: ok,
    exit: ok,
    notify: (_s, kind, ino) => void r.notified.push({ kind, ino }),
    replyErr: (req, errno) => (r.errors.push({ req, errno }), 0),
    replyEntry: ok,
    replyCreate: ok,
    replyAttr: ok,
    replyOpen: (req, fh, flags) => (r.opens.push({ req, fh, flags }), 0),
    replyWrite: ok,
    replyBuf: ok,
    replyFd: ok,
    replyStatfs: ok,
    replyXattr: ok,
    replyDirents: (req, _size, _offsets, names) => (r.dirents.push({ req, names }), names.length),
  };
}

/** The folder's listing comes from `list`, which a test may hold back to commit a change while it is taken. */
function folderFs(list: () => Promise<DirEntry[]>): Filesystem {
  const fs: Partial<Filesystem> = {
    trackKernel: () => undefined,
    pathOf: (ino) => (ino === FOLDER_INO ? 'F' : ''),
    getattr: (path) => Promise.resolve(path === 'F' || path === '' ? attr(FOLDER_INO, true) : attr(9, false)),
    readdir: () => list(),
    knownIno: (id: ItemId) => (id === FOLDER_ID ? FOLDER_INO : undefined),
    placeOf: () => undefined,
  };
  return fs as Filesystem;
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Fuse3Ops folder listings (recorded addon: kernel orderings a real mount cannot be made to produce)', () => {
  let r: Recorded;
  let nextReq = 1;
  const send = (ops: Fuse3Ops, op: number, fh = 0, off = 0): number => {
    const req = nextReq++;
    ops.dispatch(op, req, FOLDER_INO, fh, off, 4096, 0, 0, '', '', 0, undefined, []);
    return req;
  };
  const make = (list: () => Promise<DirEntry[]>): Fuse3Ops => {
    r = { opens: [], dirents: [], notified: [], errors: [] };
    const ops = new Fuse3Ops(folderFs(list), recordingAddon(r), silentLogger(), {
      entryS: 60,
      negativeS: 1,
      opMs: 10_000,
      readMs: 10_000,
    });
    ops.attach({} as Session, () => undefined);
    ops.kernel.looked(FOLDER_INO, 1, 'F'); // as the LOOKUP before any OPENDIR leaves it
    return ops;
  };
  const entries = (...names: string[]): DirEntry[] =>
    names.map((name, i) => ({ name, attr: attr(10 + i, false) }));

  it('opens a folder for the kernel to keep its listing across opens, and takes the names at the first READDIR', async () => {
    let listed = 0;
    const ops = make(() => Promise.resolve(entries(`v${++listed}`)));
    send(ops, OP.opendir);
    await settle();
    expect(r.opens).toEqual([
      expect.objectContaining({ flags: OPEN_FLAGS.keepCache | OPEN_FLAGS.cacheReaddir }),
    ]);
    expect(listed).toBe(0); // nothing listed at OPENDIR
    const fh = r.opens[0]!.fh;
    send(ops, OP.readdirplus, fh, 0);
    await settle();
    send(ops, OP.readdirplus, fh, 0); // a rewind takes the names again
    await settle();
    expect(r.dirents.map((d) => d.names)).toEqual([
      ['.', '..', 'v1'],
      ['.', '..', 'v2'],
    ]);
    send(ops, OP.releasedir, fh);
    await settle();
    expect(r.notified).toEqual([]); // nothing changed: the kernel keeps the listing
  });

  it('a change to the folder committed while its names are taken drops what the kernel cached from them, at release', async () => {
    let release: (e: DirEntry[]) => void = () => undefined;
    const ops = make(() => new Promise<DirEntry[]>((res) => (release = res)));
    send(ops, OP.opendir);
    await settle();
    const fh = r.opens[0]!.fh;
    send(ops, OP.readdirplus, fh, 0);
    await settle();
    ops.invalidate([], [FOLDER_ID]); // a remote create committed now; the names being taken predate it
    expect(r.notified).toEqual([{ kind: NOTIFY.inode, ino: FOLDER_INO }]); // may reach the kernel before the reply
    release(entries('old.txt'));
    await settle();
    expect(r.dirents.map((d) => d.names)).toEqual([['.', '..', 'old.txt']]);
    send(ops, OP.releasedir, fh);
    await settle();
    expect(r.notified).toEqual([
      { kind: NOTIFY.inode, ino: FOLDER_INO },
      { kind: NOTIFY.inode, ino: FOLDER_INO }, // again, after the stale listing was served
    ]);
  });

  it("a change to another folder leaves this one's listing alone", async () => {
    const ops = make(() => Promise.resolve(entries('a.txt')));
    send(ops, OP.opendir);
    await settle();
    const fh = r.opens[0]!.fh;
    send(ops, OP.readdirplus, fh, 0);
    await settle();
    ops.invalidate([], [asItemId('fedcba9876543210fedcba9876543210')]);
    send(ops, OP.releasedir, fh);
    await settle();
    expect(r.notified).toEqual([]);
  });
});
