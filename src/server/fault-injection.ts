// Applies the fault rules a request triggered: delay, answer 429/503 itself, reset the connection, or wrap the
// response so its body is cut (reset or clean close), stalled, or corrupted into malformed XML after N bytes.
import type { Exchange, ServerContext } from './context';
import type { FaultRule } from './fault-plan';
import { sendError } from './http-util';
import { rootFolder } from './handlers/root-folder';
import {
  type HostileCase,
  type HostileEnv,
  type HostileReply,
  answersWithoutHandler,
  hostileAnswer,
  hostileRewrite,
} from './hostile-responses';

const STALE_ETAG = '"{00000000-0000-0000-0000-000000000000},0"';

type BodyFault = 'reset-mid-body' | 'stall' | 'truncate' | 'malformed-xml';

/** Runs the request-level faults; true when the request was answered (or its connection dropped) here. */
export async function applyFaults(
  ctx: ServerContext,
  ex: Exchange,
  rules: readonly FaultRule[],
): Promise<boolean> {
  for (const r of rules) {
    switch (r.kind) {
      case 'latency':
        await new Promise((res) => setTimeout(res, r.delayMs ?? 1000));
        break;
      case 'status':
        // The body is read (and dropped) before the answer: closing with it unread makes the kernel reset the
        // connection, and the client would see a reset instead of the status and its Retry-After.
        await drain(ex);
        ex.res.setHeader('Connection', 'close');
        await sendError(ex.req, ex.res, ex.stats, r.status ?? 503, {
          'Retry-After': String(r.retryAfterSeconds ?? 1),
        });
        return true;
      case 'reset':
        ex.req.socket.resetAndDestroy();
        return true;
      case 'resync-needed':
        if ((ex.query.get('Filter') ?? '').toLowerCase() !== 'changes') break;
        ex.res.setHeader('X-SyncStatus', 'ResyncNeeded');
        ex.res.setHeader('ResyncAction', 'ResetReupload');
        ex.res.setHeader('X-ResyncAction', 'ResetReupload');
        await rootFolder(ctx, ex);
        return true;
      case 'etag-conflict':
        // DELETE Items/{R}: its If-Match becomes a stale ETag (412). E8 ETags sit in the body: the flag is for them.
        ex.forceETagConflict = true;
        if (ex.req.method === 'DELETE') ex.req.headers['if-match'] = STALE_ETAG;
        break;
      case 'hostile':
        return hostile(ctx, ex, r.case as HostileCase, r.location);
      default:
        wrapBody(ex, r.kind, r);
    }
  }
  return false;
}

/** Reads the rest of the request body, discarding it. */
function drain(ex: Exchange): Promise<void> {
  if (ex.req.complete || ex.req.readableEnded) return Promise.resolve();
  return new Promise((res) => {
    ex.req.once('end', res);
    ex.req.once('error', () => res());
    ex.req.once('close', res);
    ex.req.resume();
  });
}

/** Intercepts res.write/end so that after `afterBytes` body bytes the fault happens. */
function wrapBody(ex: Exchange, kind: BodyFault, r: FaultRule): void {
  const { req, res } = ex;
  if (kind === 'malformed-xml') delete req.headers['accept-encoding']; // corrupt plain text, not gzip
  const write = res.write.bind(res) as (chunk: Buffer) => boolean;
  const writeThen = res.write.bind(res) as (chunk: Buffer, cb: () => void) => boolean;
  const end = res.end.bind(res) as (chunk?: Buffer) => void;
  const socket = req.socket;
  let sent = 0;
  let done = false;
  const limitFor = (total: number): number => r.afterBytes ?? (kind === 'stall' ? 0 : Math.floor(total / 2));
  const toBuf = (c: unknown): Buffer | undefined =>
    c === undefined || c === null || typeof c === 'function' ? undefined : Buffer.from(c as Buffer);

  const fire = (): void => {
    done = true;
    if (!res.headersSent) res.flushHeaders();
    if (kind === 'reset-mid-body') socket.resetAndDestroy();
    else if (kind === 'truncate') socket.destroySoon();
    else if (r.stallMs !== undefined) setTimeout(() => socket.destroy(), r.stallMs).unref();
  };
  const pass = (chunk: Buffer, total: number): boolean => {
    if (done) return false;
    const room = limitFor(total) - sent;
    if (chunk.length < room) {
      sent += chunk.length;
      return write(chunk);
    }
    sent += Math.max(0, room);
    done = true;
    // Fire once the allowed bytes have left: a reset would otherwise discard them from the send buffer.
    if (room > 0) writeThen(chunk.subarray(0, room), fire);
    else fire();
    return false; // never drains: a piped source stops here
  };
  const declared = (): number => Number(res.getHeader('content-length') ?? Number.MAX_SAFE_INTEGER);

  if (kind === 'malformed-xml') {
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      const body = toBuf(chunk);
      if (body !== undefined && !res.headersSent) {
        const broken = Buffer.concat([
          body.subarray(0, Math.floor(body.length / 2)),
          Buffer.from('<<&Broken'),
        ]);
        res.setHeader('Content-Length', String(broken.length));
        return end(broken);
      }
      return (end as (...a: unknown[]) => void)(chunk, ...rest);
    }) as typeof res.end;
    return;
  }
  res.write = ((chunk: unknown) => {
    const b = toBuf(chunk);
    return b === undefined ? true : pass(b, declared());
  }) as typeof res.write;
  res.end = ((chunk?: unknown) => {
    const b = toBuf(chunk);
    if (b !== undefined && !done) {
      if (!res.headersSent) res.flushHeaders();
      pass(b, declared());
    }
    if (!done) {
      if (limitFor(declared()) <= sent) fire();
      else end();
    }
    return res;
  }) as typeof res.end;
}

/**
 * `hostile`: an answering case replies at once (true: the handler does not run); a rewriting case lets the handler
 * run with its response captured whole, then sends the case's rewrite of it instead.
 */
function hostile(ctx: ServerContext, ex: Exchange, c: HostileCase, location: string | undefined): boolean {
  const token = ex.query.get('SyncToken');
  const env: HostileEnv = {
    store: ctx.store,
    rootId: ctx.meta.rootId,
    ...(location ? { location } : {}),
    ...(token ? { requestToken: token } : {}),
  };
  const { req, res } = ex;
  delete req.headers['accept-encoding']; // rewrite plain text, not gzip
  const write = res.write.bind(res) as (b: Buffer) => boolean;
  const end = res.end.bind(res) as (b?: Buffer) => void;
  if (answersWithoutHandler(c)) {
    sendHostile(ex, hostileAnswer(c, env), write, end);
    return true;
  }
  const chunks: Buffer[] = [];
  const toBuf = (c: unknown): Buffer | undefined =>
    c === undefined || c === null || typeof c === 'function' ? undefined : Buffer.from(c as Buffer);
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    const b = toBuf(chunk);
    if (b !== undefined) chunks.push(b);
    const cb = rest.find((a) => typeof a === 'function') as (() => void) | undefined;
    if (cb) process.nextTick(cb);
    return true;
  }) as typeof res.write;
  res.end = ((chunk?: unknown) => {
    const b = toBuf(chunk);
    if (b !== undefined) chunks.push(b);
    const real = { status: res.statusCode, body: Buffer.concat(chunks) };
    sendHostile(ex, hostileRewrite(c, real, env), write, end);
    return res;
  }) as typeof res.end;
  return false;
}

/** Sends a case's reply through the response's own write/end (a rewriting case has replaced res.write/end). */
function sendHostile(
  ex: Exchange,
  reply: HostileReply,
  write: (b: Buffer) => boolean,
  end: (b?: Buffer) => void,
): void {
  const { res } = ex;
  res.statusCode = reply.status;
  for (const [k, v] of Object.entries(reply.headers)) {
    if (v === undefined) res.removeHeader(k);
    else res.setHeader(k, v);
  }
  if (Buffer.isBuffer(reply.body)) {
    res.setHeader('Content-Length', String(reply.body.length));
    ex.stats.bytes = reply.body.length;
    end(reply.body);
    return;
  }
  res.removeHeader('Content-Length'); // chunked: the body has no end
  const stream = reply.body;
  res.once('close', () => stream.destroy());
  stream.on('data', (chunk: Buffer) => {
    ex.stats.bytes += chunk.length;
    if (!write(chunk)) stream.pause();
  });
  res.on('drain', () => stream.resume());
}
