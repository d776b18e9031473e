// The download worker over real HTTP on 127.0.0.1: the compiled worker (dist/, built by `npm run build`, which the
// test command runs first) writing bodies into a real file with their hash lanes, streaming them back, aborts,
// error statuses and write failures.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { WorkerBody, WorkerDownloads } from '../../src/protocol/http/worker-downloads';
import { QuickXorHash, quickXorHash } from '../../src/shared/quickxorhash';
import { TempDirs } from '../helpers/temp-dirs';

const SCRIPT = path.join(__dirname, '../../dist/protocol/http/download-worker.js');
const MIB = 1024 * 1024;

function pattern(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + (i >>> 9)) & 0xff;
  return b;
}

const data = pattern(6 * MIB + 777);
const dirs = new TempDirs();
let server: http.Server;
let base: string;
let downloads: WorkerDownloads;
/** Requests that should hang without an answer (for aborts before the head). */
let stall = false;

beforeAll(async () => {
  if (!fs.existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing: run \`npm run build\` first`);
  server = http.createServer((req, res) => {
    if (req.url === '/missing') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
      return;
    }
    if (req.url === '/slow') {
      // Half the body, then nothing: the client aborts mid-body.
      res.writeHead(200, { 'content-length': String(data.length) });
      res.write(data.subarray(0, 2 * MIB));
      return;
    }
    if (stall) return;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m) {
      const start = Number(m[1]);
      const end = m[2] === '' ? data.length - 1 : Math.min(Number(m[2]), data.length - 1);
      res.writeHead(206, {
        'content-range': `bytes ${start}-${end}/${data.length}`,
        'content-length': String(end - start + 1),
      });
      res.end(data.subarray(start, end + 1));
    } else {
      res.writeHead(200, { 'content-length': String(data.length) });
      res.end(data);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  downloads = new WorkerDownloads(SCRIPT, { connections: 4, tls: {}, keepAliveTimeoutMs: 5000 });
});

afterAll(async () => {
  await downloads?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => server?.close(() => r()));
  dirs.cleanup();
});

function get(url: string, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return downloads.request({ url: new URL(url, base), headers, signal, timeoutMs: 10_000 });
}

describe('WorkerDownloads (compiled worker, real HTTP)', () => {
  it("writes a range into a file itself and reports pieces whose lanes add up to the range's hash", async () => {
    const file = path.join(dirs.make(), 'f.bin');
    const fd = fs.openSync(file, 'w+');
    try {
      const start = 1000;
      const end = 5 * MIB + 3;
      const res = await get('/f', { range: `bytes=${start}-${end - 1}` });
      expect(res.status).toBe(206);
      const whole = QuickXorHash.startingAt(start);
      const pieces: Array<[number, number]> = [];
      await res.body.writeTo(fd, start, 0, end - start, (at, n, lanes) => {
        pieces.push([at, n]);
        whole.mergeLanes(lanes, n);
      });
      // In order, back to back, covering the range.
      let pos = start;
      for (const [at, n] of pieces) {
        expect(at).toBe(pos);
        pos += n;
      }
      expect(pos).toBe(end);
      const back = Buffer.alloc(end - start);
      fs.readSync(fd, back, 0, back.length, start);
      expect(back.equals(data.subarray(start, end))).toBe(true);
      // Merged onto the hash of the bytes before the range, the lanes give the digest of the prefix.
      const prefix = new QuickXorHash().update(data.subarray(0, start));
      prefix.mergeLanes(whole.laneBytes(), end - start);
      expect(prefix.digest()).toBe(quickXorHash(data.subarray(0, end)));
    } finally {
      fs.closeSync(fd);
    }
  });

  it('drops `skip` bytes and stops after `limit` (a server that ignored the Range header)', async () => {
    const fd = fs.openSync(path.join(dirs.make(), 's.bin'), 'w+');
    try {
      const res = await get('/whole');
      expect(res.status).toBe(200);
      await res.body.writeTo(fd, 0, 3 * MIB, MIB, () => undefined);
      const back = Buffer.alloc(MIB + 10);
      const n = fs.readSync(fd, back, 0, back.length, 0);
      expect(n).toBe(MIB);
      expect(back.subarray(0, n).equals(data.subarray(3 * MIB, 4 * MIB))).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('streams the bytes back to this thread when read as a stream', async () => {
    const res = await get('/f', { range: 'bytes=0-' });
    const parts: Buffer[] = [];
    for await (const c of res.body) parts.push(c as Buffer);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it('resolves with an error status and its body can be dropped', async () => {
    const res = await get('/missing');
    expect(res.status).toBe(404);
    expect(res.body).toBeInstanceOf(WorkerBody);
    await res.body.dump();
    expect(res.body.destroyed).toBe(true);
  });

  it('an abort mid-body rejects writeTo, and only after the worker stopped writing', async () => {
    const fd = fs.openSync(path.join(dirs.make(), 'a.bin'), 'w+');
    try {
      const ctl = new AbortController();
      const res = await get('/slow', {}, ctl.signal);
      let landed = 0;
      const writing = res.body.writeTo(fd, 0, 0, data.length, (_at, n) => {
        landed += n;
        if (landed >= MIB) ctl.abort(new Error('stop (test)'));
      });
      await expect(writing).rejects.toThrow('stop (test)');
      const size = fs.fstatSync(fd).size;
      await new Promise((r) => setTimeout(r, 50));
      expect(fs.fstatSync(fd).size).toBe(size); // nothing written after the rejection
      expect(size).toBeLessThan(data.length);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('an abort before the head rejects with the abort reason', async () => {
    stall = true;
    try {
      const ctl = new AbortController();
      const pending = get('/f', {}, ctl.signal);
      ctl.abort(new Error('gave up (test)'));
      await expect(pending).rejects.toThrow('gave up (test)');
    } finally {
      stall = false;
    }
  });

  it('a write the worker cannot make fails writeTo with the errno code', async () => {
    const file = path.join(dirs.make(), 'ro.bin');
    fs.writeFileSync(file, '');
    const fd = fs.openSync(file, 'r'); // read-only: the worker's writes fail with EBADF
    try {
      const res = await get('/f', { range: 'bytes=0-999' });
      await expect(res.body.writeTo(fd, 0, 0, 1000, () => undefined)).rejects.toMatchObject({
        code: 'EBADF',
      });
    } finally {
      fs.closeSync(fd);
    }
  });

  it('a connection refused rejects with its socket code', async () => {
    await expect(
      downloads.request({ url: new URL('http://127.0.0.1:1/'), headers: {}, timeoutMs: 5000 }),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
