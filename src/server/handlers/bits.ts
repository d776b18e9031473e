// E9 BITS upload sessions (digest §4.4, [MC-BUP]): Create-Session, Fragment (`Content-Range`, 416 on a gap),
// Close-Session, Cancel-Session, Ping. Fragments are written straight to uploads/<id>.part; the content becomes a
// version only through an E8 item whose FragmentSessionId names the session (sessionContent + finishSession).
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Exchange, ServerContext } from '../context';
import type { StagedContent } from '../content-staging';
import { hashFile, tempPath } from '../content-staging';
import { QuickXorHash } from '../../shared/quickxorhash';
import { dataPlane } from '../data-plane-settings';
import { requireDigest } from '../form-digest';
import { sendError } from '../http-util';
import { currentQuota, quotaHeaders } from '../quota';
import type { Store } from '../store';
import { dashedGuid, normaliseGuid } from '../../shared/ids';
import { WriteRefusedError } from '../write-errors';

export const BITS_PROTOCOL = '{7df0354d-249b-430f-820d-3d2a9bef4931}';
/** Largest fragment accepted (digest §4.4: the client uses ~10 MiB). */
export const MAX_FRAGMENT_BYTES = 60 * 1024 * 1024;
/** HRESULT BG_E_SESSION_NOT_FOUND, sent with BITS-Error-Context 0x5 (server). */
const BG_E_SESSION_NOT_FOUND = '0x8020001F';
const BG_E_INVALID_ARG = '0x80070057';

/** True when the request is a BITS packet: verb BITS_POST or POST + X-Http-Method-Override: BITS_POST. */
export function isBitsRequest(ex: Exchange): boolean {
  const override = ex.req.headers['x-http-method-override'];
  return (
    ex.req.method === 'BITS_POST' ||
    (ex.req.method === 'POST' &&
      typeof override === 'string' &&
      override.trim().toUpperCase() === 'BITS_POST')
  );
}

/**
 * QuickXorHash of each session's bytes so far, kept in memory while fragments arrive in order, so the commit does
 * not read the whole file again. Lost on restart (the commit then hashes the file); dropped on any write error.
 */
const runningHashes = new Map<string, { h: QuickXorHash; upTo: number }>();
/** Received chunks are gathered into writes of up to this size (one writev while the next ones arrive). */
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * Appends `body` to `fh` at `pos` after dropping its first `skip` bytes (already stored), updating `hash` with what
 * is written. A chunk is written at once when no write is in flight; chunks arriving meanwhile are gathered and
 * written with one writev. Resolves the end offset.
 */
async function appendBody(
  body: AsyncIterable<Buffer>,
  fh: fs.promises.FileHandle,
  skip: number,
  pos: number,
  hash: QuickXorHash | undefined,
): Promise<number> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let inFlight: Promise<unknown> = Promise.resolve();
  let writing = false;
  const flush = async (): Promise<void> => {
    await inFlight;
    if (batchBytes === 0) return;
    const bufs = batch;
    const at = pos;
    pos += batchBytes;
    batch = [];
    batchBytes = 0;
    writing = true;
    inFlight = writeAll(fh, bufs, at).finally(() => (writing = false));
    inFlight.catch(() => undefined); // awaited (and thrown) by the next flush
  };
  for await (const chunk of body) {
    let c = chunk;
    if (skip > 0) {
      const n = Math.min(skip, c.length);
      skip -= n;
      c = c.subarray(n);
    }
    if (c.length === 0) continue;
    hash?.update(c);
    batch.push(c);
    batchBytes += c.length;
    // Nothing being written: write at once (received bytes reach the disk without waiting for more); otherwise
    // gather until a full batch.
    if (!writing || batchBytes >= WRITE_BATCH_BYTES) await flush();
  }
  await flush();
  await inFlight;
  return pos;
}

/** One writev, continued until every byte is written. */
async function writeAll(fh: fs.promises.FileHandle, bufs: Buffer[], at: number): Promise<void> {
  const rest = bufs;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, at);
    at += bytesWritten;
    let n = bytesWritten;
    while (rest.length > 0 && n >= (rest[0] as Buffer).length) n -= (rest.shift() as Buffer).length;
    if (rest.length > 0 && n > 0) rest[0] = (rest[0] as Buffer).subarray(n);
  }
}

function partFile(store: Store, id: string): string {
  return path.join(store.uploadDir, `${id}.part`);
}

/** Drops sessions idle for longer than the configured limit (called on every BITS packet and commit). */
export function expireIdleSessions(ctx: ServerContext): void {
  const cutoff = ctx.clock.now() - dataPlane(ctx).uploadSessionIdleMs;
  for (const id of ctx.store.sessions.idle(cutoff)) dropSession(ctx.store, id);
}

function dropSession(store: Store, id: string): void {
  store.sessions.drop(id);
  runningHashes.delete(partFile(store, id));
  fs.rmSync(partFile(store, id), { force: true });
}

function ack(ex: Exchange, status: number, headers: Record<string, string>): void {
  ex.res.statusCode = status;
  for (const [k, v] of Object.entries({ 'BITS-Packet-Type': 'Ack', 'Content-Length': '0', ...headers })) {
    ex.res.setHeader(k, v);
  }
  ex.res.end();
}

function bitsError(
  ex: Exchange,
  status: number,
  code: string,
  extra: Record<string, string> = {},
): Promise<void> {
  ex.res.setHeader('Connection', 'close'); // the fragment body was not read
  return sendError(ex.req, ex.res, ex.stats, status, {
    'BITS-Packet-Type': 'Ack',
    'BITS-Error-Code': code,
    'BITS-Error-Context': '0x5',
    ...extra,
  });
}

export async function bits(ctx: ServerContext, ex: Exchange): Promise<void> {
  if (!(await requireDigest(ctx, ex))) return;
  expireIdleSessions(ctx);
  const type = String(ex.req.headers['bits-packet-type'] ?? '').toLowerCase();
  if (type === 'ping') return ack(ex, 200, {});
  if (type === 'create-session') return createSession(ctx, ex);
  const rawId = String(ex.req.headers['bits-session-id'] ?? '');
  const hex = normaliseGuid(rawId);
  const session = hex !== undefined ? ctx.store.sessions.get(dashedGuid(hex)) : undefined;
  if (!session || session.owner !== ex.user.toLowerCase()) {
    return bitsError(ex, 404, BG_E_SESSION_NOT_FOUND);
  }
  const idHeader = { 'BITS-Session-Id': `{${session.id}}` };
  if (type === 'close-session') {
    // The content stays until an E8 commit takes it or the session idles out; closing twice is harmless.
    ex.req.resume();
    ctx.store.sessions.put({ ...session, touchedMs: ctx.clock.now() });
    return ack(ex, 200, idHeader);
  }
  if (type === 'cancel-session') {
    ex.req.resume();
    dropSession(ctx.store, session.id);
    return ack(ex, 200, idHeader);
  }
  if (type !== 'fragment') return bitsError(ex, 400, BG_E_INVALID_ARG);
  return fragment(ctx, ex, session.id);
}

function createSession(ctx: ServerContext, ex: Exchange): Promise<void> | void {
  ex.req.resume();
  const offered = String(ex.req.headers['bits-supported-protocols'] ?? '').toLowerCase();
  if (!offered.includes(BITS_PROTOCOL.toLowerCase())) return bitsError(ex, 400, BG_E_INVALID_ARG);
  const id = randomUUID();
  fs.mkdirSync(ctx.store.uploadDir, { recursive: true });
  fs.writeFileSync(partFile(ctx.store, id), '');
  runningHashes.set(partFile(ctx.store, id), { h: new QuickXorHash(), upTo: 0 });
  ctx.store.sessions.put({
    id,
    owner: ex.user.toLowerCase(),
    received: 0,
    total: null,
    touchedMs: ctx.clock.now(),
  });
  return ack(ex, 200, {
    'BITS-Protocol': BITS_PROTOCOL,
    'BITS-Session-Id': `{${id}}`,
    'Accept-Encoding': 'Identity',
  });
}

async function fragment(ctx: ServerContext, ex: Exchange, id: string): Promise<void> {
  const store = ctx.store;
  const session = store.sessions.get(id);
  if (!session) return bitsError(ex, 404, BG_E_SESSION_NOT_FOUND);
  const idHeader = { 'BITS-Session-Id': `{${id}}` };
  const m = /^bytes\s+(\d{1,15})-(\d{1,15})\/(\d{1,15})$/i.exec(
    String(ex.req.headers['content-range'] ?? '').trim(),
  );
  const length = Number(ex.req.headers['content-length'] ?? NaN);
  const [a, b, total] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [NaN, NaN, NaN];
  if (!m || a > b || b >= total || !Number.isSafeInteger(length) || length !== b - a + 1) {
    return bitsError(ex, 400, BG_E_INVALID_ARG, idHeader);
  }
  if (length > MAX_FRAGMENT_BYTES) return bitsError(ex, 413, BG_E_INVALID_ARG, idHeader);
  if (session.total !== null && session.total !== total)
    return bitsError(ex, 400, BG_E_INVALID_ARG, idHeader);
  if (total > ctx.maxFileSizeBytes) return bitsError(ex, 413, BG_E_INVALID_ARG, idHeader);
  const quota = currentQuota(ctx);
  if (quota.used + total > quota.granted) {
    return bitsError(ex, 507, BG_E_INVALID_ARG, { ...idHeader, ...quotaHeaders(quota) });
  }
  const received = { 'BITS-Received-Content-Range': String(session.received) };
  if (a > session.received) return bitsError(ex, 416, BG_E_INVALID_ARG, { ...idHeader, ...received });
  // Bytes before `received` were already stored (a resend after a lost Ack): skip them, append the rest.
  const file = partFile(store, id);
  const running = runningHashes.get(file);
  const hash = running !== undefined && running.upTo === session.received ? running : undefined;
  if (hash === undefined) runningHashes.delete(file);
  let pos: number;
  const fh = await fs.promises.open(file, 'r+');
  try {
    pos = await appendBody(ex.req, fh, session.received - a, session.received, hash?.h);
    if (pos !== Math.max(b + 1, session.received))
      throw new Error('fragment body shorter than Content-Length');
  } catch (err) {
    runningHashes.delete(file);
    await fh.truncate(session.received).catch(() => undefined);
    await fh.close();
    if (ex.res.headersSent || ex.req.destroyed) throw err;
    return bitsError(ex, 400, BG_E_INVALID_ARG, { ...idHeader, ...received });
  }
  if (hash !== undefined) hash.upTo = pos;
  await fh.close();
  store.sessions.put({ ...session, received: pos, total, touchedMs: ctx.clock.now() });
  return ack(ex, 200, { ...idHeader, 'BITS-Received-Content-Range': String(pos) });
}

/**
 * The finished upload of session `key` (a FragmentSessionId) as staged content for a write op: a hard link of the
 * fsynced session file, so a refused write leaves the session usable. undefined when no such session is the user's.
 */
export async function sessionContent(
  ctx: ServerContext,
  user: string,
  key: string,
): Promise<{ content: StagedContent; sessionId: string } | undefined> {
  expireIdleSessions(ctx);
  const hex = normaliseGuid(key);
  const session = hex !== undefined ? ctx.store.sessions.get(dashedGuid(hex)) : undefined;
  if (!session || session.owner !== user.toLowerCase()) return undefined;
  if (session.total === null || session.received !== session.total) {
    throw new WriteRefusedError(
      'Failure',
      `upload session incomplete: ${session.received} of ${session.total ?? '?'}`,
    );
  }
  const file = partFile(ctx.store, session.id);
  const fh = await fs.promises.open(file, 'r+');
  await fh.sync();
  await fh.close();
  const link = tempPath(ctx.store);
  await fs.promises.link(file, link);
  // The hash kept while the fragments arrived, else (server restarted meanwhile) a read of the whole file.
  const running = runningHashes.get(file);
  const { size, hash } =
    running !== undefined && running.upTo === session.received
      ? { size: session.received, hash: running.h.digest() }
      : await hashFile(link);
  return { content: { path: link, size, hash }, sessionId: session.id };
}

/** After a successful commit: the session is spent. */
export function finishSession(ctx: ServerContext, sessionId: string): void {
  dropSession(ctx.store, sessionId);
}
