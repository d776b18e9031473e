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
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      ex.stats.bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const source = fs.createReadStream(file, { start, end, highWaterMark: READ_CHUNK_BYTES });
  try {
    if (ctx.faults.downloadBytesPerSecond !== undefined) {
      await pipeline(source, rateLimiter(ctx.faults.downloadBytesPerSecond), counter, res);
    } else {
      await pipeline(source, counter, res);
    }
  } catch (err) {
    // A client that hangs up mid-transfer is normal (ranged readers abort), so this is not a warning.
    ctx.logger.debug({ err, id: item.id }, 'download stream ended early');
    res.destroy();
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
