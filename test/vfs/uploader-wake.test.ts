// The uploader's loop must not miss a wake-up: a flush (or a change) that comes while a cycle is running used to find
// nobody asleep, and the loop then slept the wait that cycle had worked out (up to 30 s, or the settle delay the
// flush skips). In process: src/vfs with the real uploader on the reference server over HTTP.
import * as path from 'node:path';
import { openInProcessLibrary } from '../helpers/in-process-library';
import { Harness } from '../server/server-harness';

const harness = new Harness();
const closers: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await harness.cleanup();
});

/** A fresh server and an in-process library on it, uploading after `writeBackMs` of quiet. */
async function library(writeBackMs: number): ReturnType<typeof openInProcessLibrary> {
  const work = await harness.tempDir('spfs-uploader-');
  const srv = await harness.start({ dataDir: path.join(work, 'server') });
  return openInProcessLibrary({ work, siteUrl: srv.siteUrl, closers, write: { writeBackMs } });
}

it('a flush asked right after a change uploads it at once, though the settle delay is an hour', async () => {
  const { w, store } = await library(3_600_000);
  for (const name of ['a', 'b', 'c']) {
    await w.fs.mkdir(`/${name}`, 0o755); // wakes the loop: a cycle runs, finds nothing due, works out its sleep
    const asked = Date.now();
    // The drain gives up after 10 s; the lost wake-up slept 30 s (IDLE_CHECK_MS) before looking again.
    const left = await w.uploader.drain(
      undefined,
      () => undefined,
      () => Date.now() - asked > 10_000,
    );
    expect(left.files).toBe(0);
    expect(store.getChild(store.rootId()!, name)?.id).not.toMatch(/^local-/);
  }
});

it('a file keeps the mtime it had here once its bytes are on the server and the change sync brought them back', async () => {
  const { w, tree } = await library(0);
  const fs = w.fs;
  const fh = await fs.create('/edited.txt', 0o644);
  await fs.write(fh, Buffer.from('mine'), 4, 0);
  await fs.flush(fh);
  await fs.release(fh);
  const before = (await fs.getattr('/edited.txt')).mtime.getTime();
  await new Promise((r) => setTimeout(r, 1100)); // the upload's server time is another second
  const left = await w.uploader.drain(
    undefined,
    () => undefined,
    () => false,
  );
  expect(left.files).toBe(0);
  expect((await fs.getattr('/edited.txt')).mtime.getTime()).toBe(before); // after the upload result
  await tree.sync();
  expect((await fs.getattr('/edited.txt')).mtime.getTime()).toBe(before); // after the change page with it
});
