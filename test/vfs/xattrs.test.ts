// The extended attributes of SpfsFilesystem in process (real server, client, SQLite store and content cache, real
// uploader): what getfattr shows without opening, an upload the server refuses for good, a conflict copy, and the
// pin flag set through the injected PinControl. The mounted runs are test/e2e/file-state-xattrs.test.ts and the
// core case in test/helpers/core-cases.ts.
import { constants } from 'node:fs';
import * as path from 'node:path';
import { type WritePath } from '../../src/cli/write-path';
import { MetadataStore } from '../../src/cache/metadata-store';
import type { ItemId } from '../../src/shared/ids';
import { toErrnoName } from '../../src/vfs/errors';
import type { SpfsFilesystem } from '../../src/vfs/spfs-filesystem';
import { adminPost } from '../helpers/admin-endpoint';
import { openInProcessLibrary } from '../helpers/in-process-library';
import { Harness, USER } from '../server/server-harness';

const TOKEN = `xattrs-${Math.random().toString(36).slice(2)}-admin-token`;
const GRANTED = 64 * 1024;
const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
const pinCalls: Array<[ItemId, boolean]> = [];
let fs: SpfsFilesystem;
let w: WritePath;
let store: MetadataStore;
let port: string;
let siteUrl: string;

const attrs = async (p: string): Promise<Record<string, string>> => {
  const out: Record<string, string> = {};
  for (const name of await fs.listxattr(p)) out[name] = (await fs.getxattr(p, name)).toString();
  return out;
};
const errnoOf = (op: () => Promise<unknown>): Promise<string> =>
  op().then(
    () => 'none',
    (err: unknown) => toErrnoName(err),
  );

async function writeFile(p: string, data: string): Promise<void> {
  const fh = await fs.getattr(p).then(
    () => fs.open(p, constants.O_WRONLY | constants.O_TRUNC),
    () => fs.create(p, 0o644),
  );
  await fs.write(fh, Buffer.from(data), Buffer.byteLength(data), 0);
  await fs.flush(fh);
  await fs.release(fh);
}

const drain = (): Promise<unknown> =>
  w.uploader.drain(
    undefined,
    () => undefined,
    () => false,
  );

beforeAll(async () => {
  const seedDir = await harness.seed({ 'Docs/never-opened.txt': 'not downloaded by getfattr' });
  const work = await harness.tempDir('spfs-xattrs-');
  const srv = await harness.start({
    dataDir: path.join(work, 'server'),
    seedDir,
    adminToken: TOKEN,
    spaceGrantedBytes: GRANTED,
  });
  port = new URL(srv.siteUrl).port;
  siteUrl = srv.siteUrl;
  ({ store, w } = await openInProcessLibrary({
    work,
    siteUrl: srv.siteUrl,
    closers,
    write: {
      writeBackMs: 0,
      pins: {
        setPinned: (id, pinned) => {
          pinCalls.push([id, pinned]);
          store.setPinned(id, pinned);
        },
      },
    },
  }));
  fs = w.fs;
});

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

describe('extended attributes of SpfsFilesystem (no mount)', () => {
  it("reads a never-opened file's attributes from SQLite alone: no cache entry appears", async () => {
    const a = await attrs('/Docs/never-opened.txt');
    const item = store.getChild(store.getChild(store.rootId()!, 'Docs')!.id, 'never-opened.txt')!;
    expect(a).toEqual({
      'user.spfs.state': 'online-only',
      'user.spfs.pinned': '0',
      'user.spfs.resource-id': item.id,
      'user.spfs.etag': item.etag,
      'user.spfs.url': `${siteUrl}/Documents/Docs/never-opened.txt`, // a personal site's default library
    });
    expect(store.cacheIndex.all()).toEqual([]);
    expect(await errnoOf(() => fs.getxattr('/Docs/never-opened.txt', 'security.capability'))).toBe('ENODATA');
    expect(await errnoOf(() => fs.getxattr('/Docs/never-opened.txt', 'system.posix_acl_access'))).toBe(
      'ENODATA',
    );
  });

  it("pins through the injected PinControl, by the item's id", async () => {
    const item = store.getChild(store.getChild(store.rootId()!, 'Docs')!.id, 'never-opened.txt')!;
    await fs.setxattr('/Docs/never-opened.txt', 'user.spfs.pinned', Buffer.from('1'));
    expect((await attrs('/Docs/never-opened.txt'))['user.spfs.state']).toBe('pinned');
    await fs.removexattr('/Docs/never-opened.txt', 'user.spfs.pinned');
    expect(pinCalls).toEqual([
      [item.id, true],
      [item.id, false],
    ]);
    expect(await errnoOf(() => fs.removexattr('/Docs/never-opened.txt', 'user.spfs.state'))).toBe('ENOTSUP');
    expect(await errnoOf(() => fs.getxattr('/Docs/missing.txt', 'user.spfs.state'))).toBe('ENOENT');
  });

  it('shows an upload the server refuses for good as error, with the reason, until the file changes', async () => {
    await writeFile('/too-big.bin', 'x'.repeat(GRANTED * 2));
    await drain(); // returns once only permanent failures are left
    const a = await attrs('/too-big.bin');
    expect(a['user.spfs.state']).toBe('error');
    expect(a['user.spfs.error']).toMatch(/QuotaExceeded|quota/i);
    expect(a['user.spfs.resource-id']).toBeUndefined(); // the server never made it
    await fs.unlink('/too-big.bin');
  });

  it("marks the conflict copy the uploader made as conflict; the original shows the server's version", async () => {
    await fs.mkdir('/c', 0o755);
    await writeFile('/c/doc.txt', 'base');
    await drain();
    const fh = await fs.open('/c/doc.txt', constants.O_WRONLY | constants.O_TRUNC);
    await fs.write(fh, Buffer.from('ours'), 4, 0);
    await fs.flush(fh);
    expect((await attrs('/c/doc.txt'))['user.spfs.state']).toBe('modified');
    await adminPost(port, TOKEN, '/changes', {
      user: USER.name,
      op: 'edit-file',
      path: 'c/doc.txt',
      content: 'theirs',
    });
    await fs.release(fh);
    await drain();
    const names = (await fs.readdir('/c')).map((e) => e.name);
    const copy = names.find((n) => n.includes('(conflict from'));
    expect(copy).toBeDefined();
    expect((await attrs(`/c/${copy}`))['user.spfs.state']).toBe('conflict');
    expect((await attrs('/c/doc.txt'))['user.spfs.state']).not.toBe('conflict');
    // Renamed by the user, the copy is an ordinary file again.
    await fs.rename(`/c/${copy}`, '/c/doc (mine).txt');
    await drain();
    expect(['online-only', 'hydrated']).toContain((await attrs('/c/doc (mine).txt'))['user.spfs.state']);
  });
});
