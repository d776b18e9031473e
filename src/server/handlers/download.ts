// E10: file content at a document's PreAuthURL, streamed from its blob with Range / If-Range / If-None-Match support.
import * as fs from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rateLimiter } from '../faults';
import { documentETag, normaliseGuid } from '../../shared/ids';
import type { Exchange, ServerContext } from '../context';
import { sendError } from '../http-util';
import { ItemNotFoundError } from '../server-errors';

/** Measured twice as fast as the 64 KiB default for big files. */
const READ_CHUNK_BYTES = 1024 * 1024;

export async function download(ctx: ServerContext, ex: Exchange): Promise<void> {
  const raw = ex.query.get('UniqueId') ?? '';
  const id = normaliseGuid(raw);
  const item = id === undefined ? undefined : ctx.store.get(id);
  if (!item || item.deleted || item.kind !== 'document') throw new ItemNotFoundError(raw);
  const file = ctx.store.blobPath(item);
  if (file === undefined) throw new ItemNotFoundError(raw);

  const { req, res } = ex;
  const size = item.size;
  const etag = documentETag(item.id, item.version);
  const lastModified = new Date(item.modifiedMs).toUTCString();
  res.setHeader('ETag', etag);
  res.setHeader('Last-Modified', lastModified);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', 'private, max-age=0');

  const inm = req.headers['if-none-match'];
  // Our ETags contain a comma, so the list is split on quoted strings, not on commas.
  if (inm !== undefined && (inm.match(/(W\/)?"[^"]*"|\*/g) ?? []).some((t) => t === etag || t === '*')) {
    res.statusCode = 304;
    res.end();
    return;
  }

  const rangeHeader = req.headers.range;
  if (rangeHeader !== undefined) ex.stats.range = rangeHeader;
  const ifRange = req.headers['if-range'];
  const rangeApplies =
    rangeHeader !== undefined && (ifRange === undefined || ifRange === etag || ifRange === lastModified);
  let start = 0;
  let end = size - 1;
  let status = 200;
  if (rangeApplies) {
    const r = parseRange(rangeHeader, size);
    if (r === 'unsatisfiable') {
      return sendError(req, res, ex.stats, 416, { 'Content-Range': `bytes */${size}` });
    }
    if (r !== undefined) {
      ({ start, end } = r);
      status = 206;
      res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
    }
  }
  const length = end - start + 1;
  res.statusCode = status;
  res.setHeader('Content-Type', item.mime ?? 'application/octet-stream');
  res.setHeader('Content-Length', String(length));
  if (req.method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  const bytesPerSecond = ctx.faults.downloadBytesPerSecond;
  // Scripted body faults (fault-injection.ts) replace res.write and drop its callback, which buffer reuse needs.
  if (bytesPerSecond !== undefined || Object.hasOwn(res, 'write')) {
    await streamThroughPipeline(ctx, ex, file, start, end, bytesPerSecond, item.id);
    return;
  }
  try {
    await sendFileRange(ex, file, start, end + 1);
  } catch (err) {
    // A client that hangs up mid-transfer is normal (ranged readers abort), so this is not a warning.
    ctx.logger.debug({ err, id: item.id }, 'download stream ended early');
    res.destroy();
  }
}

/** The stream path, for fault injection: the rate limit paces the pipeline; a wrapped res.write sees plain writes. */
async function streamThroughPipeline(
  ctx: ServerContext,
  ex: Exchange,
  file: string,
  start: number,
  end: number,
  bytesPerSecond: number | undefined,
  id: string,
): Promise<void> {
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      ex.stats.bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const source = fs.createReadStream(file, { start, end, highWaterMark: READ_CHUNK_BYTES });
  try {
    if (bytesPerSecond !== undefined) {
      await pipeline(source, rateLimiter(bytesPerSecond), counter, ex.res);
    } else {
      await pipeline(source, counter, ex.res);
    }
  } catch (err) {
    ctx.logger.debug({ err, id }, 'download stream ended early');
    ex.res.destroy();
  }
}

/** Read buffers one response may have in flight at once (being read into, or queued on the socket). */
const BUFFERS_PER_RESPONSE = 4;
/** Spare read buffers kept between responses, so big downloads allocate (and the GC frees) almost nothing. */
const MAX_SPARE_BUFFERS = 16;
const spareBuffers: Buffer[] = [];

/** A READ_CHUNK_BYTES buffer from the spares; a first read smaller than a chunk gets its own small buffer. */
function takeBuffer(want: number): Buffer {
  return spareBuffers.pop() ?? Buffer.allocUnsafeSlow(want < READ_CHUNK_BYTES ? want : READ_CHUNK_BYTES);
}

/** Only whole chunk buffers whose write completed (the kernel or TLS has copied the bytes) come back. */
function giveBack(buf: Buffer): void {
  if (buf.length === READ_CHUNK_BYTES && spareBuffers.length < MAX_SPARE_BUFFERS) spareBuffers.push(buf);
}

function openForRead(file: string): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, 'r', (err, fd) => (err ? reject(err) : resolve(fd))));
}

function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

function closeQuietly(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

/**
 * Sends bytes [from, to) of `file` as the response body: positional reads into at most BUFFERS_PER_RESPONSE
 * reusable buffers, each written with `res.write` and reused only after its write callback (so backpressure is
 * bounded by the buffers, with no per-chunk allocation). Stops reading and closes the file as soon as the response
 * closes (client hang-up); a read error or a file shorter than expected rejects (the caller destroys the response).
 */
async function sendFileRange(ex: Exchange, file: string, from: number, to: number): Promise<void> {
  const { res } = ex;
  let gone = false;
  let done = false;
  let wake: (() => void) | undefined;
  const signal = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onGone = (): void => {
    gone = true;
    signal();
  };
  // 'close' before the end is a client hang-up; an 'error' is the same for us (and must not go unhandled).
  res.once('close', onGone);
  res.on('error', onGone);
  const free: Buffer[] = [];
  const fd = await openForRead(file);
  try {
    if (gone || res.destroyed) return;
    // Headers go out before a big body's first read; a small body leaves in the same write as its headers.
    if (to - from > READ_CHUNK_BYTES) res.flushHeaders();
    let owned = 0;
    let pos = from;
    while (pos < to) {
      if (gone || res.destroyed) return;
      let buf = free.pop();
      if (buf === undefined && owned < BUFFERS_PER_RESPONSE) {
        buf = takeBuffer(to - pos);
        owned++;
      }
      if (buf === undefined) {
        // Every buffer is queued on the socket: wait for a write to complete (or the client to leave).
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const n = await readAt(fd, buf, Math.min(buf.length, to - pos), pos);
      if (gone || res.destroyed) {
        free.push(buf);
        return;
      }
      if (n === 0) {
        free.push(buf);
        throw new Error(`blob ended at byte ${pos} of ${to}`);
      }
      pos += n;
      ex.stats.bytes += n;
      const sent = buf;
      res.write(n === sent.length ? sent : sent.subarray(0, n), (err) => {
        // After an error the socket is gone and the buffer is dropped, never reused.
        if (!err) {
          if (done) giveBack(sent);
          else free.push(sent);
        }
        signal();
      });
    }
    res.end();
  } finally {
    done = true;
    for (const buf of free.splice(0)) giveBack(buf);
    await closeQuietly(fd);
  }
}

/**
 * One `bytes=a-b` / `a-` / `-n` range. Undefined = ignore the header and send everything (syntax we don't serve,
 * e.g. several ranges, as RFC 9110 allows); 'unsatisfiable' → 416.
 */
export function parseRange(
  header: string,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(size - n, 0), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}
