// The core of a mount made with -o ro,uid=,gid=,umask= (in process, no mount): the owner and mode bits shown, every
// change refused with EROFS while reads go on. test/e2e/mount-options.test.ts checks the same through mount(8).
import { constants } from 'node:fs';
import * as path from 'node:path';
import { MetadataStore } from '../../src/cache/metadata-store';
import { toErrnoName } from '../../src/vfs/errors';
import type { SpfsFilesystem } from '../../src/vfs/spfs-filesystem';
import { openInProcessLibrary } from '../helpers/in-process-library';
import { Harness } from '../server/server-harness';

const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
let fs: SpfsFilesystem;
let store: MetadataStore;

beforeAll(async () => {
  const seedDir = await harness.seed({ 'a.txt': 'alpha', 'Docs/b.txt': 'bravo' });
  const work = await harness.tempDir('spfs-ro-');
  const srv = await harness.start({ dataDir: path.join(work, 'server'), seedDir });
  const { w, store: opened } = await openInProcessLibrary({
    work,
    siteUrl: srv.siteUrl,
    closers,
    write: { attributes: { uid: 4321, gid: 8765, umask: 0o027, readOnly: true } },
  });
  store = opened;
  fs = w.fs;
});

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

async function errnoOf(op: () => Promise<unknown>): Promise<string> {
  try {
    await op();
  } catch (err) {
    return toErrnoName(err);
  }
  return 'no error';
}

describe('a read-only mount with uid, gid and umask (core, no mount)', () => {
  it('shows the owner and the mode bits the options ask for', async () => {
    const file = await fs.getattr('/a.txt');
    const dir = await fs.getattr('/Docs');
    expect([file.uid, file.gid, dir.uid, dir.gid]).toEqual([4321, 8765, 4321, 8765]);
    expect(file.mode & 0o777).toBe(0o640);
    expect(dir.mode & 0o777).toBe(0o750);
    expect((await fs.readdir('/Docs'))[0]?.attr.mode).toBe(constants.S_IFREG | 0o640);
  });

  it('reads as usual', async () => {
    const fh = await fs.open('/a.txt', constants.O_RDONLY);
    const buf = Buffer.alloc(16);
    const n = await fs.read(fh, buf, buf.length, 0);
    await fs.release(fh);
    expect(buf.subarray(0, n).toString()).toBe('alpha');
  });

  it('refuses every change with EROFS and records nothing to upload', async () => {
    const refused = {
      openForWriting: await errnoOf(() => fs.open('/a.txt', constants.O_WRONLY)),
      create: await errnoOf(() => fs.create('/new.txt', 0o644)),
      truncate: await errnoOf(() => fs.truncate('/a.txt', 0)),
      unlink: await errnoOf(() => fs.unlink('/a.txt')),
      rename: await errnoOf(() => fs.rename('/a.txt', '/c.txt')),
      mkdir: await errnoOf(() => fs.mkdir('/New', 0o755)),
      rmdir: await errnoOf(() => fs.rmdir('/Docs')),
      utimens: await errnoOf(() => fs.utimens('/a.txt', new Date(), new Date())),
      chmod: await errnoOf(() => fs.chmod('/a.txt')),
      chown: await errnoOf(() => fs.chown('/a.txt')),
      write: await errnoOf(() => fs.write(1, Buffer.from('x'), 1, 0)),
      ftruncate: await errnoOf(() => fs.ftruncate(1, 0)),
    };
    for (const errno of Object.values(refused)) expect(errno).toBe('EROFS');
    expect(store.journal.totals().files).toBe(0);
    expect((await fs.readdir('/')).map((e) => e.name).sort()).toEqual(['Docs', 'a.txt']);
  });
});
