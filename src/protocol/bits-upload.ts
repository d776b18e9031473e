// E9 large-file upload over BITS (digest §4.4, wire contract): Create-Session, sequential fragments (default 10 MiB)
// resumed from the last acknowledged offset (`BITS-Received-Content-Range`, 416 on a gap), then — after the E8
// Close-Session (the server keeps the bytes for the E8 commit by FragmentSessionId); Cancel-Session on abandon.
import { createReadStream } from 'node:fs';
import { normaliseGuid } from '../shared/ids';
import type { QuickXorHash } from '../shared/quickxorhash';
import { isRetryable, NetworkError, UploadSessionError } from './errors';
import { headerValue, type HeaderMap } from './headers';
import { retryDelayMs, MAX_ATTEMPTS } from './http/retry';
import type { SpSession } from './sp-session';
import { XML_ACCEPT } from './sp-session';

export const BITS_PROTOCOL = '{7df0354d-249b-430f-820d-3d2a9bef4931}';
/** Fewer, larger fragments cost fewer round trips (a 256 MiB upload: 8 requests, not 26); the server takes 60 MiB. */
export const DEFAULT_FRAGMENT_BYTES = 32 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

export interface BitsUploadOptions {
  fragmentBytes?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((bytes: number) => void) | undefined;
  /** Updated with every byte as it is first read for sending, in order (saves a separate hashing pass). */
  hash?: QuickXorHash | undefined;
}

/** An open BITS session; `id` is the dashed GUID without braces (the FragmentSessionId of the commit). */
export interface BitsSession {
  id: string;
  /** Digest of `opts.hash` when every byte went through it exactly once, in order; else undefined. */
  hash?: string | undefined;
  close(): Promise<void>;
  cancel(): Promise<void>;
}

function packet(type: string, sessionId?: string): Record<string, string> {
  const h: Record<string, string> = { 'x-http-method-override': 'BITS_POST', 'bits-packet-type': type };
  if (sessionId !== undefined) h['bits-session-id'] = `{${sessionId}}`;
  return h;
}

function checkBitsError(headers: HeaderMap, what: string): void {
  const code = headerValue(headers, 'BITS-Error-Code');
  if (code !== undefined) {
    throw new UploadSessionError(`${what}: server reported BITS error ${code.slice(0, 20)}`);
  }
}

function receivedOffset(headers: HeaderMap): number | undefined {
  const raw = headerValue(headers, 'BITS-Received-Content-Range')?.trim();
  return raw !== undefined && /^\d{1,16}$/.test(raw) ? Number(raw) : undefined;
}

/** Uploads `size` bytes of `path` into a new BITS session at `url`; resolves once every byte is acknowledged and
 * the session is closed, ready to be committed. */
export async function bitsUpload(
  session: SpSession,
  url: URL,
  path: string,
  size: number,
  opts: BitsUploadOptions = {},
): Promise<BitsSession> {
  const fragment = opts.fragmentBytes ?? DEFAULT_FRAGMENT_BYTES;
  const base = {
    method: 'POST' as const,
    url,
    accept: XML_ACCEPT,
    digest: true,
    signal: opts.signal,
    body: '',
  };
  const created = await session.text({
    ...base,
    what: 'BITS Create-Session',
    idempotent: true,
    headers: {
      ...packet('Create-Session'),
      'bits-supported-protocols': BITS_PROTOCOL,
    },
  });
  checkBitsError(created.headers, 'BITS Create-Session');
  const id = normaliseGuid(headerValue(created.headers, 'BITS-Session-Id') ?? '');
  if (id === undefined) throw new UploadSessionError('BITS Create-Session: no usable BITS-Session-Id');
  const dashed = `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`;
  const simple = (type: string) => async (): Promise<void> => {
    const r = await session.text({
      ...base,
      signal: undefined,
      what: `BITS ${type}`,
      idempotent: true,
      headers: packet(type, dashed),
    });
    checkBitsError(r.headers, `BITS ${type}`);
  };
  const handle: BitsSession = {
    id: dashed,
    close: simple('Close-Session'),
    cancel: simple('Cancel-Session'),
  };

  // Bytes [0, hashedTo) went through opts.hash; a resend of bytes before it is not hashed again.
  let hashedTo = opts.hash !== undefined ? 0 : -1;
  async function* hashing(chunks: AsyncIterable<Buffer>, from: number): AsyncIterable<Buffer> {
    let pos = from;
    for await (const c of chunks) {
      if (hashedTo >= 0 && pos + c.length > hashedTo) {
        if (pos > hashedTo)
          hashedTo = -1; // a hole: hashing gives up
        else {
          opts.hash?.update(c.subarray(hashedTo - pos));
          hashedTo = pos + c.length;
        }
      }
      pos += c.length;
      yield c;
    }
  }

  try {
    let offset = 0;
    let failures = 0;
    while (offset < size) {
      const end = Math.min(size, offset + fragment) - 1;
      const start = offset;
      try {
        const res = await session.text({
          ...base,
          what: 'BITS Fragment',
          okStatuses: [416],
          headers: {
            ...packet('Fragment', dashed),
            'content-range': `bytes ${start}-${end}/${size}`,
            'content-length': String(end - start + 1),
            'content-type': 'application/octet-stream',
          },
          body: () => hashing(createReadStream(path, { start, end, highWaterMark: READ_CHUNK_BYTES }), start),
        });
        checkBitsError(res.headers, 'BITS Fragment');
        const acked = receivedOffset(res.headers);
        if (acked === undefined || acked > size) {
          throw new UploadSessionError(
            `BITS Fragment: ${res.status} without a usable BITS-Received-Content-Range`,
          );
        }
        if (res.status === 416 || acked < start)
          session.deps.logger?.debug({ from: start, to: acked }, 'BITS resume');
        offset = acked;
        failures = 0;
        opts.onProgress?.(offset);
      } catch (err) {
        // Fragments are idempotent by range: resend from the last acknowledged offset after a transient failure.
        if (opts.signal?.aborted || !isRetryable(err) || ++failures >= MAX_ATTEMPTS) throw err;
        if (!(err instanceof NetworkError))
          session.deps.logger?.debug({ code: (err as { code?: string }).code }, 'BITS retry');
        await session.deps.clock.sleep(
          retryDelayMs(err, failures, session.deps.random ?? Math.random),
          opts.signal,
        );
        if (!session.mayRetry()) throw err; // the uploader tries again once the mount is online
      }
    }
    // Close-Session keeps the bytes until the E8 commit takes them (a successful commit spends the session).
    await handle.close();
    if (hashedTo === size) handle.hash = opts.hash?.digest();
    return handle;
  } catch (err) {
    await handle.cancel().catch(() => undefined);
    throw err;
  }
}
