// Turns a 200/206 download response into a DownloadStream: validates Content-Range, reports the total size, and makes
// the body yield exactly the requested bytes even when a server ignores Range and answers 200 with the whole file.
import { ProtocolError } from '../errors';
import { headerValue } from '../headers';
import type { ByteRange, DownloadStream } from '../types';
import { downloadStreamOf, readBatches } from './read-batches';
import { redactUrl } from './redact';
import { destroyBody, toNetworkError, type HttpResponse } from './transport';
import { WorkerBody } from './worker-downloads';

export interface ContentRange {
  start: number;
  end: number;
  total: number | undefined;
}

/** `bytes a-b/total` or `bytes a-b/*`; undefined when the header is not of that form. */
export function parseContentRange(raw: string | undefined): ContentRange | undefined {
  const m = /^bytes\s+(\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/i.exec(raw?.trim() ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (end < start || (total !== undefined && end >= total)) return undefined;
  return { start, end, total };
}

function parseLength(raw: string | undefined): number | undefined {
  return raw !== undefined && /^\d{1,16}$/.test(raw.trim()) ? Number(raw.trim()) : undefined;
}

export function rangeHeader(range: ByteRange): string {
  return `bytes=${range.start}-${range.end === undefined ? '' : range.end}`;
}

export function toDownloadStream(
  res: HttpResponse,
  range: ByteRange | undefined,
  url: URL,
  signal: AbortSignal | undefined,
): DownloadStream {
  let skip = 0;
  let limit: number | undefined;
  let totalSize: number | undefined;
  if (res.status === 206) {
    const cr = parseContentRange(headerValue(res.headers, 'Content-Range'));
    if (!cr || (range && cr.start !== range.start) || (range?.end !== undefined && cr.end > range.end)) {
      destroyBody(res.body);
      throw new ProtocolError(`GET ${redactUrl(url)}: 206 with missing or mismatched Content-Range`);
    }
    totalSize = cr.total;
  } else {
    totalSize = parseLength(headerValue(res.headers, 'Content-Length'));
    if (range) {
      // Range ignored: cut the requested slice out of the full body ourselves.
      skip = range.start;
      if (range.end !== undefined) limit = range.end - range.start + 1;
    }
  }

  let aborted = false;
  const body = res.body;
  async function* sliced(): AsyncGenerator<Uint8Array[]> {
    let toSkip = skip;
    let left = limit;
    try {
      for await (const batch of readBatches(body)) {
        const out: Uint8Array[] = [];
        for (let c of batch) {
          if (toSkip > 0) {
            if (c.length <= toSkip) {
              toSkip -= c.length;
              continue;
            }
            c = c.subarray(toSkip);
            toSkip = 0;
          }
          if (left !== undefined) {
            if (c.length >= left) {
              if (left > 0) out.push(c.subarray(0, left));
              yield out;
              return;
            }
            left -= c.length;
          }
          out.push(c);
        }
        if (out.length > 0) yield out;
      }
    } catch (err) {
      if (aborted) return;
      throw toNetworkError(err, 'GET', url, signal);
    } finally {
      if (!body.readableEnded) destroyBody(body);
    }
  }

  return downloadStreamOf({
    status: res.status,
    batches: sliced(),
    abort: () => {
      aborted = true;
      destroyBody(body);
    },
    totalSize,
    etag: headerValue(res.headers, 'ETag'),
    release: res.release,
    writeTo:
      body instanceof WorkerBody
        ? (fd, at, max, onLanded) =>
            body.writeTo(fd, at, skip, Math.min(max, limit ?? Number.MAX_SAFE_INTEGER), onLanded)
        : undefined,
  });
}
