// Moves, renames and deletes of items the server has go up a hundred per write request (E8 batches), and a member
// the batch did not write (edited on the server since: Conflict) goes again alone, where the same rules as before
// decide. In process: src/vfs with the real uploader, on the reference server over HTTP; what the server ends up
// with is read by an observer with an empty cache (another machine).
import { constants } from 'node:fs';
import * as path from 'node:path';
import { adminPost } from '../helpers/admin-endpoint';
import { serverView, type ServerAccess } from '../helpers/core-cases';
import { openInProcessLibrary, type InProcessLibrary } from '../helpers/in-process-library';
import { Harness, USER } from '../server/server-harness';

const TOKEN = `batch-${Math.random().toString(36).slice(2)}-admin-token`;
const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
let lib: InProcessLibrary;
let access: ServerAccess;
let port: string;
const N = 250;

beforeAll(async () => {
  const work = await harness.tempDir('spfs-batched-');
  const srv = await harness.start({ dataDir: path.join(work, 'server'), adminToken: TOKEN });
  access = { url: srv.siteUrl, user: USER.name, password: USER.password };
  port = new URL(srv.siteUrl).port;
  lib = await openInProcessLibrary({
    work,
    siteUrl: srv.siteUrl,
    closers,
    write: { writeBackMs: 3_600_000 },
  });
}, 60_000);

afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

async function flush(): Promise<void> {
  const left = await lib.w.uploader.drain(
    undefined,
    () => undefined,
    () => false,
  );
  expect(left.files).toBe(0);
}

async function write(p: string, text: string): Promise<void> {
  const fs = lib.w.fs;
  const fh = await fs.getattr(p).then(
    () => fs.open(p, constants.O_WRONLY | constants.O_TRUNC),
    () => fs.create(p, 0o644),
  );
  await fs.write(fh, Buffer.from(text), Buffer.byteLength(text), 0);
  await fs.flush(fh);
  await fs.release(fh);
}

/** Requests the uploader sends for the work `run` queues: write batches, and single moves and deletes. */
async function requestsFor(run: () => Promise<void>): Promise<{ batches: number; singles: number }> {
  const api = lib.api;
  const batch = jest.spyOn(api, 'writeBatch');
  const move = jest.spyOn(api, 'move');
  const del = jest.spyOn(api, 'delete');
  try {
    await run();
    await flush();
    return { batches: batch.mock.calls.length, singles: move.mock.calls.length + del.mock.calls.length };
  } finally {
    batch.mockRestore();
    move.mockRestore();
    del.mockRestore();
  }
}

it(`${N} renames and moves go up in batches, and ${N} deletes too`, async () => {
  const fs = lib.w.fs;
  await fs.mkdir('/src', 0o755);
  await fs.mkdir('/dst', 0o755);
  for (let i = 0; i < N; i++) await write(`/src/f${i}.txt`, `file ${i}`);
  await flush();
  const moved = await requestsFor(async () => {
    for (let i = 0; i < N; i++)
      await fs.rename(`/src/f${i}.txt`, i % 2 === 0 ? `/src/r${i}.txt` : `/dst/m${i}.txt`);
  });
  // A hundred per request: three, not 250 moves, each after a lookup of the item.
  expect(moved).toEqual({ batches: Math.ceil(N / 100), singles: 0 });
  let view = await serverView(access);
  for (let i = 0; i < N; i++) {
    const at = i % 2 === 0 ? `src/r${i}.txt` : `dst/m${i}.txt`;
    expect(view.files.get(at)?.bytes.toString()).toBe(`file ${i}`);
  }
  const deleted = await requestsFor(async () => {
    for (let i = 0; i < N; i++) await fs.unlink(i % 2 === 0 ? `/src/r${i}.txt` : `/dst/m${i}.txt`);
  });
  expect(deleted).toEqual({ batches: Math.ceil(N / 100), singles: 0 });
  view = await serverView(access);
  expect([...view.files.keys()].filter((p) => p.startsWith('src/') || p.startsWith('dst/'))).toEqual([]);
});

it('a batched delete or rename of a file edited on the server since goes alone: the edit is kept, the rename lands on it', async () => {
  const fs = lib.w.fs;
  await fs.mkdir('/c', 0o755);
  for (const n of ['del-edited', 'del-plain', 'ren-edited', 'ren-plain']) await write(`/c/${n}.txt`, n);
  await flush();
  const remote = (p: string, content: string): Promise<unknown> =>
    adminPost(port, TOKEN, '/changes', { user: USER.name, op: 'edit-file', path: p, content });
  await remote('c/del-edited.txt', 'edited by another user');
  await remote('c/ren-edited.txt', 'also edited');
  const sent = await requestsFor(async () => {
    await fs.unlink('/c/del-edited.txt');
    await fs.unlink('/c/del-plain.txt');
    await fs.rename('/c/ren-edited.txt', '/c/ren-edited-2.txt');
    await fs.rename('/c/ren-plain.txt', '/c/ren-plain-2.txt');
  });
  expect(sent.batches).toBe(2); // the two deletes, then the two renames
  expect(sent.singles).toBe(2); // each edited one again, alone
  const view = await serverView(access);
  const names = [...view.files.keys()].filter((p) => p.startsWith('c/')).sort();
  // Delete versus a remote edit: the edit wins (as before); the rename moves the edited version.
  expect(names).toEqual(['c/del-edited.txt', 'c/ren-edited-2.txt', 'c/ren-plain-2.txt']);
  expect(view.files.get('c/del-edited.txt')?.bytes.toString()).toBe('edited by another user');
  expect(view.files.get('c/ren-edited-2.txt')?.bytes.toString()).toBe('also edited');
});
