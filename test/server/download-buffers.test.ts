// E10 downloads reuse a few read buffers per response: a client hanging up mid-transfer must close the blob's file
// descriptor and must not corrupt later downloads; a blob shorter than its size truncates the body; the rate-limit
// fault still paces bytes and a scripted truncate fault still cuts a big body; the request log still counts bytes sent.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { RunningServer } from '../../src/server';
import { readPage } from './page-reader';
import { Harness, basic, get, libraryDir, sfs } from './server-harness';

function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * seed + (i >>> 12)) & 0xff;
  return b;
}

const A = pattern(12 * 1024 * 1024 + 5, 31); // several times the buffers one response may have in flight
const B = pattern(5 * 1024 * 1024 + 123, 7);
const VICTIM = pattern(3 * 1024 * 1024 + 1, 13);

/** Files under `dir` this process has open (from /proc/self/fd). */
function openFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir)) out.push(target);
    } catch {
      // closed while listing
    }
  }
  return out;
}

async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** GETs `url` and counts the body bytes until the server ends or drops the connection. */
function bytesUntilClosed(url: string): Promise<number> {
  return new Promise((resolve) => {
    let got = 0;
    const req = http.get(url, { headers: { authorization: basic() }, agent: false }, (res) => {
      res.on('data', (chunk: Buffer) => (got += chunk.length));
      res.on('error', () => undefined);
      res.on('close', () => resolve(got));
    });
    req.on('error', () => resolve(got));
  });
}

/** GETs `url`, takes the first chunk, stalls (so the server has writes queued), then drops the connection. */
function abortAfterFirstChunk(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { authorization: basic() }, agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
      res.once('data', (chunk: Buffer) => {
        res.pause();
        setTimeout(() => {
          req.destroy();
          resolve(chunk.length);
        }, 100);
      });
    });
    req.on('error', () => undefined);
  });
}

describe('E10 download buffers', () => {
  const h = new Harness();
  let srv: RunningServer;
  let dataDir: string;
  let logFile: string;
  const urls: Record<string, string> = {};

  beforeAll(async () => {
    dataDir = await h.tempDir();
    logFile = path.join(await h.tempDir(), 'requests.jsonl');
    srv = await h.start({
      dataDir,
      requestLogFile: logFile,
      seedDir: await h.seed({ 'a.bin': A, 'b.bin': B, 'victim.bin': VICTIM }),
    });
    const res = await get(sfs(srv, 'RootFolder?Filter=changes&View=SkyDriveSync'), {
      'X-ResponseStructure': 'Flat',
    });
    for (const e of readPage(await res.text()).entries) {
      urls[e.name] = `${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${e.id}`;
    }
  });
  afterAll(() => h.cleanup());

  const blobs = (): string => path.join(libraryDir(dataDir), 'blobs');

  test('a client hanging up mid-transfer frees the file, and later downloads are intact', async () => {
    for (let i = 0; i < 3; i++) {
      const got = await abortAfterFirstChunk(urls['a.bin']!);
      expect(got).toBeGreaterThan(0);
    }
    await eventually(() => openFilesUnder(blobs()).length === 0);
    // Concurrent downloads draw on the same spare buffers.
    const [a, b, range] = await Promise.all([
      get(urls['a.bin']!).then(async (r) => Buffer.from(await r.arrayBuffer())),
      get(urls['b.bin']!).then(async (r) => Buffer.from(await r.arrayBuffer())),
      get(urls['a.bin']!, { range: 'bytes=1048000-5300000' }).then(async (r) =>
        Buffer.from(await r.arrayBuffer()),
      ),
    ]);
    expect(a.equals(A)).toBe(true);
    expect(b.equals(B)).toBe(true);
    expect(range.equals(A.subarray(1048000, 5300001))).toBe(true);
    const again = Buffer.from(await (await get(urls['b.bin']!)).arrayBuffer());
    expect(again.equals(B)).toBe(true);
    expect(openFilesUnder(blobs())).toEqual([]);
  });

  test('a blob shorter than its recorded size ends the body early, and the server keeps serving', async () => {
    const blob = fs
      .readdirSync(blobs(), { recursive: true, encoding: 'utf8' })
      .map((f) => path.join(blobs(), f))
      .find((f) => fs.statSync(f).isFile() && fs.statSync(f).size === VICTIM.length)!;
    fs.truncateSync(blob, 1024 * 1024 + 10);
    const res = await get(urls['victim.bin']!);
    expect(res.status).toBe(200);
    await expect(res.arrayBuffer()).rejects.toThrow();
    await eventually(() => openFilesUnder(blobs()).length === 0);
    expect(Buffer.from(await (await get(urls['b.bin']!)).arrayBuffer()).equals(B)).toBe(true);
  });

  test('the request log counts the bytes sent, whole or cut short', async () => {
    await srv.close();
    const lines = (await fs.promises.readFile(logFile, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; status: number; bytes: number; range?: string });
    const downloads = lines.filter((l) => l.path.endsWith('/download.aspx'));
    const whole = downloads.filter((l) => l.range === undefined && l.bytes === A.length);
    expect(whole.length).toBeGreaterThanOrEqual(1);
    expect(downloads.filter((l) => l.bytes === B.length)).toHaveLength(3);
    expect(downloads.find((l) => l.range !== undefined)).toMatchObject({
      status: 206,
      bytes: 5300000 - 1048000 + 1,
    });
    // The hung-up downloads sent part of the file, bounded by the buffers in flight plus what the socket took.
    const cut = downloads.filter((l) => l.bytes > 0 && l.bytes < A.length && l.range === undefined);
    expect(cut.length).toBeGreaterThanOrEqual(3);
  });
});

describe('E10 download with the rate-limit fault', () => {
  const h = new Harness();
  afterAll(() => h.cleanup());

  test('still paces the bytes and sends them unchanged', async () => {
    const data = pattern(150_000, 29);
    const srv = await h.start({
      seedDir: await h.seed({ 'slow.bin': data }),
      faults: { downloadBytesPerSecond: 1_000_000 },
    });
    const res = await get(sfs(srv, 'RootFolder?Filter=changes&View=SkyDriveSync'), {
      'X-ResponseStructure': 'Flat',
    });
    const e = readPage(await res.text()).entries.find((x) => x.name === 'slow.bin')!;
    const started = Date.now();
    const body = Buffer.from(
      await (await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${e.id}`)).arrayBuffer(),
    );
    expect(body.equals(data)).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });
});

describe('E10 download with a scripted body fault', () => {
  const h = new Harness();
  afterAll(() => h.cleanup());

  test('truncate after more bytes than the read buffers hold still cuts the body there', async () => {
    const srv = await h.start({
      seedDir: await h.seed({ 'a.bin': A }),
      faultRules: [{ kind: 'truncate', afterBytes: 6 * 1024 * 1024 + 3, path: 'download\\.aspx', count: 1 }],
    });
    const res = await get(sfs(srv, 'RootFolder?Filter=changes&View=SkyDriveSync'), {
      'X-ResponseStructure': 'Flat',
    });
    const e = readPage(await res.text()).entries.find((x) => x.name === 'a.bin')!;
    const url = `${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${e.id}`;
    expect(await bytesUntilClosed(url)).toBe(6 * 1024 * 1024 + 3);
    expect(Buffer.from(await (await get(url)).arrayBuffer()).equals(A)).toBe(true);
  });
});
