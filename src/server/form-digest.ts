// SharePoint's form digest (E13, wire contract): `0x<HMAC hex>,<RFC1123 date>`, bound to the user, valid 30 minutes,
// required on every state-changing request. A missing or stale one gets 403 with a fresh digest in X-RequestDigest.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Exchange, ServerContext } from './context';
import { sendError } from './http-util';
import { wholeSecond } from './time-format';

export const FORM_DIGEST_TIMEOUT_SECONDS = 1800;
/** Per process: digests don't survive a restart (the client then gets a 403 with a fresh one and retries). */
const SECRET = randomBytes(32);

function mac(user: string, issuedMs: number): string {
  return createHmac('sha256', SECRET)
    .update(`${user.toLowerCase()}\n${issuedMs}`)
    .digest('hex')
    .toUpperCase();
}

export function issueDigest(user: string, nowMs: number): string {
  const issued = wholeSecond(nowMs);
  return `0x${mac(user, issued)},${new Date(issued).toUTCString()}`;
}

/** True when `digest` was issued by this process to `user` less than 30 minutes before `nowMs`. */
export function digestValid(digest: string | undefined, user: string, nowMs: number): boolean {
  if (digest === undefined) return false;
  const m = /^0x([0-9A-F]{64}),(.{1,64})$/i.exec(digest.trim());
  if (!m) return false;
  const issued = Date.parse(m[2] ?? '');
  if (Number.isNaN(issued) || issued > nowMs + 60_000) return false;
  if (nowMs - issued > FORM_DIGEST_TIMEOUT_SECONDS * 1000) return false;
  const want = Buffer.from(mac(user, issued), 'utf8');
  const got = Buffer.from((m[1] ?? '').toUpperCase(), 'utf8');
  return want.length === got.length && timingSafeEqual(want, got);
}

/**
 * Gate of every state-changing handler: true when the request carries a valid X-RequestDigest; otherwise answers
 * 403 + a fresh digest (and the SharePoint error body) and returns false. The body is not read.
 */
export async function requireDigest(ctx: ServerContext, ex: Exchange): Promise<boolean> {
  const raw = ex.req.headers['x-requestdigest'];
  const now = ctx.clock.now();
  if (digestValid(typeof raw === 'string' ? raw : undefined, ex.user, now)) return true;
  ex.res.setHeader('Connection', 'close'); // the unread request body must not be taken for the next request
  await sendError(ex.req, ex.res, ex.stats, 403, { 'X-RequestDigest': issueDigest(ex.user, now) });
  return false;
}
