// The filesystem's core cases, written once against a small driver and run twice (like rclone's vfstest): in
// process against src/vfs on the real reference server (test/vfs/core-cases.test.ts) and through a real FUSE mount
// served by a child process (test/e2e/core-cases.test.ts). What the server ends up with is read by an observer
// with an empty cache of its own, i.e. another machine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContentCache } from '../../src/cache/content-cache';
import { MetadataStore, type StoredItem } from '../../src/cache/metadata-store';
import { SpClient } from '../../src/protocol/sp-client';
import type { ItemId } from '../../src/shared/ids';
import { silentLogger } from '../../src/shared/logger';
import { Hydrator, readInto } from '../../src/sync/hydrator';
import { TreeSync } from '../../src/sync/tree-sync';
import { eventually } from './eventually';

/** What a case may do to the filesystem under test. Paths are relative to the library root, '/'-separated. */
export interface CoreDriver {
  writeFile(path: string, data: Buffer): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  /** Opens for writing (O_WRONLY, plus O_TRUNC when asked); the handle writes at offsets and closes. */
  openWrite(path: string, truncate: boolean): Promise<WriteHandle>;
  openRead(path: string): Promise<ReadHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  stat(path: string): Promise<{ size: number; mtimeMs: number; folder: boolean; nlink: number }>;
  /** Errno name of what `op` threw, or 'none'. */
  errnoOf(op: () => Promise<unknown>): Promise<string>;
  /** Every pending upload is on the server (`spfs flush`, or Uploader.drain in process). */
  flush(): Promise<void>;
  /** Waits until `check` holds on the filesystem under test after a remote change (sync, or change feed). */
  seeRemote(check: () => Promise<boolean>, what: string): Promise<void>;
  /** A change made by another user through the reference server's admin endpoint. */
  remote(change: Record<string, unknown>): Promise<void>;
  /** Milliseconds to let pass while a handle stays open (longer than the mount's write-back delay). */
  pause(ms: number): Promise<void>;
  /** `getfattr -d`: the item's user.* extended attributes and their values. */
  xattrs(path: string): Promise<Record<string, string>>;
  getxattr(path: string, name: string): Promise<string>;
  /** `setfattr -n NAME -v VALUE` */
  setxattr(path: string, name: string, value: string): Promise<void>;
  /** `setfattr -x NAME` */
  removexattr(path: string, name: string): Promise<void>;
}

export interface WriteHandle {
  write(data: Buffer, position: number): Promise<void>;
  close(): Promise<void>;
}

export interface ReadHandle {
  read(length: number, position: number): Promise<Buffer>;
  /** fstat(2)'s size: the kernel asks by inode, without the handle (so also after the name was unlinked). */
  fstatSize(): Promise<number>;
  close(): Promise<void>;
}

/** The server's view: every path with its item and bytes, from a fresh client with an empty store. */
export interface ServerView {
  files: Map<string, { item: StoredItem; bytes: Buffer }>;
  folders: Set<string>;
}

export interface ServerAccess {
  url: string;
  user: string;
  password: string;
}

export async function serverView(access: ServerAccess): Promise<ServerView> {
  const dir = mkdtempSync(join(tmpdir(), 'spfs-observer-'));
  const api = await SpClient.connect({
    url: access.url,
    credentials: { user: access.user, password: access.password },
  });
  const logger = silentLogger();
  const store = MetadataStore.open(join(dir, 'meta.db'), { logger });
  try {
    await new TreeSync({ api, store, logger }).initialSync();
    const cache = await ContentCache.open({ dir: join(dir, 'content'), store, maxBytes: 1 << 30, logger });
    const hydrator = new Hydrator({ api, store, cache, logger });
    const view: ServerView = { files: new Map(), folders: new Set() };
    const walk = async (id: ItemId, prefix: string): Promise<void> => {
      for (const child of store.listChildren(id)) {
        const p = prefix === '' ? child.name : `${prefix}/${child.name}`;
        if (child.kind === 'folder') {
          view.folders.add(p);
          await walk(child.id, p);
          continue;
        }
        const h = await hydrator.open(child);
        const bytes = Buffer.alloc(child.size);
        for (let at = 0; at < child.size;) {
          const n = await readInto(h, bytes.subarray(at), child.size - at, at);
          if (n <= 0) break;
          at += n;
        }
        await h.close();
        view.files.set(p, { item: child, bytes });
      }
    };
    await walk(store.rootId() as ItemId, '');
    await hydrator.close();
    return view;
  } finally {
    store.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The ETag's version number (`"{GUID},N"`). */
export function versionOf(item: StoredItem): number {
  return Number(/,(\d+)"?$/.exec(item.etag)?.[1] ?? NaN);
}

const CONFLICT = /\(conflict from /;

export interface CoreCase {
  name: string;
  run(d: CoreDriver, server: () => Promise<ServerView>, dir: string): Promise<void>;
}

/**
 * Every case works in its own folder `dir` (created by the runner), so cases share one library and one mount.
 * `expect` comes from jest's globals.
 */
export const CORE_CASES: CoreCase[] = [
  {
    name: 'create, write, close: the server has the bytes, and the folder mtime moved',
    async run(d, server, dir) {
      const before = (await d.stat(dir)).mtimeMs;
      await d.pause(20);
      await d.writeFile(`${dir}/a.txt`, Buffer.from('hello'));
      expect((await d.stat(dir)).mtimeMs).toBeGreaterThan(before);
      expect((await d.stat(dir)).nlink).toBeGreaterThanOrEqual(1);
      expect((await d.readFile(`${dir}/a.txt`)).toString()).toBe('hello');
      await d.flush();
      expect((await server()).files.get(`${dir}/a.txt`)?.bytes.toString()).toBe('hello');
    },
  },
  {
    name: 'a rewrite (O_TRUNC, pause, write, close) goes up once, whole: one new version, never an empty one',
    async run(d, server, dir) {
      await d.writeFile(`${dir}/r.txt`, Buffer.from('first version'));
      await d.flush();
      const v0 = versionOf((await server()).files.get(`${dir}/r.txt`)!.item);
      const h = await d.openWrite(`${dir}/r.txt`, true);
      await d.pause(1500); // the runners use --write-back 0: nothing may go up while the file is open
      await h.write(Buffer.from('second!'), 0);
      await h.close();
      await d.flush();
      const after = (await server()).files.get(`${dir}/r.txt`)!;
      expect(after.bytes.toString()).toBe('second!');
      expect(versionOf(after.item)).toBe(v0 + 1);
    },
  },
  {
    name: 'saving by rename-over keeps the document (same ResourceID) and takes the new bytes',
    async run(d, server, dir) {
      await d.writeFile(`${dir}/doc.txt`, Buffer.from('v1'));
      await d.flush();
      const id = (await server()).files.get(`${dir}/doc.txt`)!.item.id;
      await d.writeFile(`${dir}/.doc.txt.swx-new`, Buffer.from('v2 saved'));
      await d.rename(`${dir}/.doc.txt.swx-new`, `${dir}/doc.txt`);
      expect((await d.readFile(`${dir}/doc.txt`)).toString()).toBe('v2 saved');
      await d.flush();
      const view = await server();
      expect(view.files.get(`${dir}/doc.txt`)?.item.id).toBe(id);
      expect(view.files.get(`${dir}/doc.txt`)?.bytes.toString()).toBe('v2 saved');
      expect([...view.files.keys()].filter((p) => p.startsWith(`${dir}/`))).toEqual([`${dir}/doc.txt`]);
    },
  },
  {
    name: 'saving by rename-over keeps the document also when the new file went up before the rename',
    async run(d, server, dir) {
      await d.writeFile(`${dir}/kept.txt`, Buffer.from('v1'));
      await d.flush();
      const id = (await server()).files.get(`${dir}/kept.txt`)!.item.id;
      await d.writeFile(`${dir}/.kept.txt.new`, Buffer.from('v2 saved'));
      await d.flush(); // the race the runners' --write-back 0 leaves open, decided: the new file is on the server
      const temp = (await server()).files.get(`${dir}/.kept.txt.new`)!.item.id;
      await d.rename(`${dir}/.kept.txt.new`, `${dir}/kept.txt`);
      expect((await d.readFile(`${dir}/kept.txt`)).toString()).toBe('v2 saved');
      await d.flush();
      const view = await server();
      expect(view.files.get(`${dir}/kept.txt`)?.item.id).toBe(id);
      expect(view.files.get(`${dir}/kept.txt`)?.bytes.toString()).toBe('v2 saved');
      expect([...view.files.values()].map((f) => f.item.id)).not.toContain(temp);
      expect([...view.files.keys()].filter((p) => p.startsWith(`${dir}/`))).toEqual([`${dir}/kept.txt`]);
    },
  },
  {
    name: 'unlink while open: the open handle still reads, the name is gone at once and from the server',
    async run(d, server, dir) {
      await d.writeFile(`${dir}/u.txt`, Buffer.from('still here'));
      await d.flush();
      const h = await d.openRead(`${dir}/u.txt`);
      await d.unlink(`${dir}/u.txt`);
      expect(await d.readdir(dir)).not.toContain('u.txt');
      expect((await h.read(10, 0)).toString()).toBe('still here');
      expect(await h.fstatSize()).toBe(10);
      await h.close();
      await d.flush();
      expect((await server()).files.has(`${dir}/u.txt`)).toBe(false);
    },
  },
  {
    name: 'delete and re-create under the same name (git checkout): one file, no conflict copy',
    async run(d, server, dir) {
      await d.writeFile(`${dir}/g.txt`, Buffer.from('branch a'));
      await d.flush();
      for (let i = 0; i < 3; i++) {
        await d.unlink(`${dir}/g.txt`);
        await d.writeFile(`${dir}/g.txt`, Buffer.from(`branch ${i}`));
      }
      await d.flush();
      const names = [...(await server()).files.keys()].filter((p) => p.startsWith(`${dir}/`));
      expect(names).toEqual([`${dir}/g.txt`]);
      expect((await server()).files.get(`${dir}/g.txt`)?.bytes.toString()).toBe('branch 2');
      expect((await d.readdir(dir)).filter((n) => CONFLICT.test(n))).toEqual([]);
    },
  },
  {
    name: 'move into another folder and edit before the upload: no conflict copy, the edit lands at the new place',
    async run(d, server, dir) {
      await d.mkdir(`${dir}/sub`);
      await d.writeFile(`${dir}/m.txt`, Buffer.from('before'));
      await d.flush();
      await d.rename(`${dir}/m.txt`, `${dir}/sub/m.txt`);
      await d.writeFile(`${dir}/sub/m.txt`, Buffer.from('after the move'));
      await d.flush();
      const view = await server();
      expect(view.files.get(`${dir}/sub/m.txt`)?.bytes.toString()).toBe('after the move');
      expect([...view.files.keys()].filter((p) => p.startsWith(`${dir}/`))).toEqual([`${dir}/sub/m.txt`]);
    },
  },
  {
    name: 'case-only and NFC/NFD-only renames of files and folders go through; a variant of a taken name is EEXIST',
    async run(d, server, dir) {
      const nfc = 'Caf\u00e9.txt';
      const nfd = 'Cafe\u0301.txt';
      await d.writeFile(`${dir}/a.txt`, Buffer.from('a'));
      await d.mkdir(`${dir}/Sub`);
      await d.writeFile(`${dir}/Sub/f.txt`, Buffer.from('f'));
      await d.writeFile(`${dir}/${nfc}`, Buffer.from('nfc'));
      await d.flush();
      // Names are looked up exactly: a variant is not the file, and creating one is refused (SharePoint's rule).
      expect(await d.errnoOf(() => d.stat(`${dir}/A.txt`))).toBe('ENOENT');
      expect(await d.errnoOf(() => d.writeFile(`${dir}/A.TXT`, Buffer.from('x')))).toBe('EEXIST');
      expect(await d.errnoOf(() => d.writeFile(`${dir}/${nfd}`, Buffer.from('x')))).toBe('EEXIST');
      expect(await d.errnoOf(() => d.mkdir(`${dir}/SUB`))).toBe('EEXIST');
      await d.writeFile(`${dir}/other.txt`, Buffer.from('other'));
      expect(await d.errnoOf(() => d.rename(`${dir}/other.txt`, `${dir}/A.txt`))).toBe('EEXIST');
      await d.rename(`${dir}/a.txt`, `${dir}/A.txt`);
      await d.rename(`${dir}/Sub`, `${dir}/SUB`);
      await d.rename(`${dir}/${nfc}`, `${dir}/${nfd}`);
      expect((await d.readdir(dir)).sort()).toEqual(['A.txt', nfd, 'SUB', 'other.txt'].sort());
      expect((await d.readFile(`${dir}/SUB/f.txt`)).toString()).toBe('f');
      await d.flush();
      const view = await server();
      const names = [...view.files.keys()].filter((p) => p.startsWith(`${dir}/`)).sort();
      expect(names).toEqual([`${dir}/A.txt`, `${dir}/${nfd}`, `${dir}/SUB/f.txt`, `${dir}/other.txt`].sort());
      expect(view.files.get(`${dir}/A.txt`)?.bytes.toString()).toBe('a');
      expect(view.files.get(`${dir}/other.txt`)?.bytes.toString()).toBe('other');
    },
  },
  {
    name: 'the 400-character path limit, measured as SharePoint does (/RootFolder/...): at it uploads, past it EINVAL',
    async run(d, server, dir) {
      // The limit covers `/RootFolder/<dir>/<folder>/<file>`; a folder name fills most of it (one name ≤ 255 bytes).
      const room = 400 - '/RootFolder'.length - `/${dir}`.length;
      const folder = 'f'.repeat(200);
      const fileAtLimit = 'x'.repeat(room - 1 - folder.length - 1);
      await d.mkdir(`${dir}/${folder}`);
      await d.writeFile(`${dir}/${folder}/${fileAtLimit}`, Buffer.from('at the limit'));
      expect(await d.errnoOf(() => d.writeFile(`${dir}/${folder}/${fileAtLimit}y`, Buffer.from('no')))).toBe(
        'EINVAL',
      );
      expect(await d.errnoOf(() => d.mkdir(`${dir}/${folder}/${fileAtLimit}z`))).toBe('EINVAL');
      // A folder renamed or moved so that a file inside would pass the limit is refused too.
      expect(await d.errnoOf(() => d.rename(`${dir}/${folder}`, `${dir}/${folder}g`))).toBe('EINVAL');
      await d.mkdir(`${dir}/deeper`);
      expect(await d.errnoOf(() => d.rename(`${dir}/${folder}`, `${dir}/deeper/${folder}`))).toBe('EINVAL');
      await d.flush();
      const view = await server();
      expect(view.files.get(`${dir}/${folder}/${fileAtLimit}`)?.bytes.toString()).toBe('at the limit');
      expect([...view.files.keys()].filter((p) => p.startsWith(`${dir}/`))).toHaveLength(1);
      expect(view.folders.has(`${dir}/${folder}g`)).toBe(false);
    },
  },
  {
    name: 'rmdir of a non-empty folder is ENOTEMPTY; an empty one goes',
    async run(d, server, dir) {
      await d.mkdir(`${dir}/full`);
      await d.writeFile(`${dir}/full/x`, Buffer.from('x'));
      expect(await d.errnoOf(() => d.rmdir(`${dir}/full`))).toBe('ENOTEMPTY');
      await d.unlink(`${dir}/full/x`);
      await d.rmdir(`${dir}/full`);
      await d.flush();
      expect((await server()).folders.has(`${dir}/full`)).toBe(false);
    },
  },
  {
    name: 'a remote edit while a local edit is pending: both kept, ours as one conflict copy',
    async run(d, server, dir) {
      await d.writeFile(`${dir}/c.txt`, Buffer.from('base'));
      await d.flush();
      const h = await d.openWrite(`${dir}/c.txt`, true);
      await h.write(Buffer.from('ours'), 0);
      await d.remote({ op: 'edit-file', path: `${dir}/c.txt`, content: 'theirs' });
      await h.close();
      await d.flush();
      const view = await server();
      expect(view.files.get(`${dir}/c.txt`)?.bytes.toString()).toBe('theirs');
      const copies = [...view.files.entries()].filter(([p]) => p.startsWith(`${dir}/`) && CONFLICT.test(p));
      expect(copies.map(([, f]) => f.bytes.toString())).toEqual(['ours']);
    },
  },
  {
    name: 'a file another machine saved since the last sync is read whole in its new version, never failing',
    async run(d, _server, dir) {
      await d.flush(); // the case's folder, made here, is on the server
      await d.remote({ op: 'create-file', path: `${dir}/s.txt`, content: 'version one!' });
      await d.seeRemote(async () => (await d.readdir(dir)).includes('s.txt'), 'the remote create');
      // Saved again before this side syncs (same length: through fuse-native a sync that wins the race is safe too).
      await d.remote({ op: 'edit-file', path: `${dir}/s.txt`, content: 'version two!' });
      expect((await d.readFile(`${dir}/s.txt`)).toString()).toBe('version two!');
    },
  },
  {
    name: 'a file another machine saved since the last sync, opened for writing without O_TRUNC, is edited in its new version',
    async run(d, server, dir) {
      await d.flush();
      await d.remote({ op: 'create-file', path: `${dir}/e.txt`, content: 'version one!' });
      await d.seeRemote(async () => (await d.readdir(dir)).includes('e.txt'), 'the remote create');
      await d.remote({ op: 'edit-file', path: `${dir}/e.txt`, content: 'version two!' }); // not synced yet
      const h = await d.openWrite(`${dir}/e.txt`, false); // the copy it edits starts from version two, whole
      await h.write(Buffer.from('TWO'), 8);
      await h.close();
      await d.flush();
      const view = await server();
      expect(view.files.get(`${dir}/e.txt`)?.bytes.toString()).toBe('version TWO!');
      expect([...view.files.keys()].filter((p) => p.startsWith(`${dir}/`) && CONFLICT.test(p))).toEqual([]);
    },
  },
  {
    name: 'a remote rename and a remote delete are seen; a remote delete of a file edited here keeps the edit',
    async run(d, server, dir) {
      await d.writeFile(`${dir}/k.txt`, Buffer.from('keep me'));
      await d.writeFile(`${dir}/r1.txt`, Buffer.from('renamed remotely'));
      await d.flush();
      await d.remote({ op: 'rename', path: `${dir}/r1.txt`, to: 'r2.txt' });
      await d.seeRemote(async () => (await d.readdir(dir)).includes('r2.txt'), 'the remote rename');
      expect((await d.readFile(`${dir}/r2.txt`)).toString()).toBe('renamed remotely');
      const h = await d.openWrite(`${dir}/k.txt`, true);
      await h.write(Buffer.from('edited here'), 0);
      await d.remote({ op: 'delete', path: `${dir}/k.txt` });
      await h.close();
      await d.flush();
      expect((await server()).files.get(`${dir}/k.txt`)?.bytes.toString()).toBe('edited here');
    },
  },
  {
    name: 'extended attributes: state, ids and web address without opening; user.spfs.pinned pins and unpins',
    async run(d, server, dir) {
      const f = `${dir}/x.txt`;
      await d.writeFile(f, Buffer.from('xattrs'));
      await d.writeFile(`${dir}/.x.txt.swp`, Buffer.from('an editor temp file: never uploaded'));
      await d.flush();
      const onServer = (await server()).files.get(f)!;
      expect(await d.xattrs(f)).toEqual({
        'user.spfs.state': 'hydrated', // the uploaded copy is the version's cached content
        'user.spfs.pinned': '0',
        'user.spfs.resource-id': onServer.item.id,
        'user.spfs.etag': onServer.item.etag,
        'user.spfs.url': expect.stringMatching(new RegExp(`/Documents/${dir}/x\\.txt$`)) as unknown,
      });
      // Not on the server: no id, ETag or address yet.
      expect(await d.xattrs(`${dir}/.x.txt.swp`)).toEqual({
        'user.spfs.state': 'hydrated',
        'user.spfs.pinned': '0',
      });
      expect(await d.errnoOf(() => d.getxattr(`${dir}/.x.txt.swp`, 'user.spfs.resource-id'))).toBe('ENODATA');
      const folder = await d.xattrs(dir);
      const root = await d.xattrs('');
      expect(folder['user.spfs.state']).toBe('online-only');
      expect(folder['user.spfs.resource-id']).toMatch(/^[0-9a-f]{32}$/);
      expect(root['user.spfs.resource-id']).toMatch(/^[0-9a-f]{32}$/);
      expect(folder['user.spfs.url']).toBe(`${root['user.spfs.url']}/${dir}`);

      await d.setxattr(f, 'user.spfs.pinned', '1');
      expect(await d.getxattr(f, 'user.spfs.pinned')).toBe('1');
      expect(await d.getxattr(f, 'user.spfs.state')).toBe('pinned');
      await d.setxattr(f, 'user.spfs.pinned', '0');
      expect(await d.getxattr(f, 'user.spfs.state')).toBe('hydrated');
      await d.setxattr(f, 'user.spfs.pinned', '1');
      await d.removexattr(f, 'user.spfs.pinned');
      expect(await d.getxattr(f, 'user.spfs.pinned')).toBe('0');
      expect(await d.errnoOf(() => d.setxattr(f, 'user.spfs.pinned', 'yes'))).toBe('EINVAL');
      expect(await d.errnoOf(() => d.setxattr(f, 'user.spfs.state', 'pinned'))).toBe('ENOTSUP');
      expect(await d.errnoOf(() => d.setxattr(f, 'user.comment', 'x'))).toBe('ENOTSUP');
      expect(await d.errnoOf(() => d.getxattr(f, 'user.comment'))).toBe('ENODATA');
      expect(await d.getxattr(f, 'user.spfs.pinned')).toBe('0');
    },
  },
  {
    name: 'files of a folder read one after another: the next small ones are fetched ahead, no further',
    async run(d, _server, dir) {
      const files = [0, 1, 2, 3, 4, 5].map((i) => `${dir}/p${i}.txt`);
      const text = (i: number): string => `sibling ${i}\n`.repeat(100 + i);
      await d.flush(); // the case's folder, made here, is on the server
      for (const [i, f] of files.entries()) await d.remote({ op: 'create-file', path: f, content: text(i) });
      await d.seeRemote(async () => (await d.readdir(dir)).length === files.length, 'the remote creates');
      const state = (i: number): Promise<string> => d.getxattr(files[i]!, 'user.spfs.state');
      expect(await state(2)).toBe('online-only');
      expect((await d.readFile(files[0]!)).toString()).toBe(text(0));
      expect(await state(1)).toBe('online-only'); // one open is no pattern yet
      expect((await d.readFile(files[1]!)).toString()).toBe(text(1));
      // Two opens going forward: the next two are downloaded (and verified) without being opened.
      await eventually(
        async () => ((await state(2)) === 'hydrated' && (await state(3)) === 'hydrated' ? true : undefined),
        'p2 and p3 fetched ahead',
        20_000,
      );
      expect([await state(4), await state(5)]).toEqual(['online-only', 'online-only']);
      expect((await d.readFile(files[2]!)).toString()).toBe(text(2));
    },
  },
];
