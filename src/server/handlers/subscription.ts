// E11 (our wire design, docs/PROTOCOL.md "Notifications"): create, renew and delete a subscription, and its long-poll
// channel, which answers 200 with a tiny <Notification> once the library has changed, or 204 after its timeout.
import { XMLParser } from 'fast-xml-parser';
import type { Exchange, ServerContext } from '../context';
import { requireDigest } from '../form-digest';
import { XML_CONTENT_TYPE, sendBody, sendError } from '../http-util';
import { XML_DECLARATION, escapeXml } from '../item-xml';
import { HttpError } from '../server-errors';
import { MAX_SUBSCRIPTION_LIFETIME_MS, type Subscription } from '../subscriptions';
import { wireTimestamp } from '../time-format';

const MAX_BODY_BYTES = 16 * 1024;
const MAX_CLIENT_STATE_CHARS = 1024;
const DEFAULT_CHANNEL_TIMEOUT_S = 60;
const MAX_CHANNEL_TIMEOUT_S = 300;
/** Callback URLs we would POST notifications to. Empty: only `longpoll` channels are offered. */
const NOTIFICATION_URL_ALLOWLIST: readonly RegExp[] = [];

// DTDs are refused before parsing, so only the five predefined entities are expanded.
const parser = new XMLParser({ processEntities: true, parseTagValue: false, ignoreAttributes: true });

async function readBody(ex: Exchange): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of ex.req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY_BYTES) {
      ex.res.setHeader('Connection', 'close');
      throw new HttpError(413, 'subscription body too large');
    }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The `<Subscription>` element's fields; 400 for anything else (DTDs included). */
function parseSubscription(xml: string): Record<string, string> {
  if (/<!\s*(DOCTYPE|ENTITY)/i.test(xml)) throw new HttpError(400, 'DOCTYPE/ENTITY declarations are refused');
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch {
    throw new HttpError(400, 'malformed subscription XML');
  }
  const sub = (doc as { Subscription?: unknown } | undefined)?.Subscription;
  if (typeof sub !== 'object' || sub === null) throw new HttpError(400, 'expected a <Subscription> element');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(sub)) if (typeof v === 'string') out[k] = v.trim();
  return out;
}

function expiry(ctx: ServerContext, raw: string | undefined): number {
  if (raw === undefined || raw === '') return ctx.clock.now() + MAX_SUBSCRIPTION_LIFETIME_MS;
  const ms = Date.parse(raw);
  if (!/^\d{4}-\d\d-\d\dT/.test(raw) || Number.isNaN(ms)) throw new HttpError(400, 'bad ExpirationDateTime');
  return ms;
}

function subscriptionXml(ex: Exchange, sfs: string, sub: Subscription): string {
  return (
    `${XML_DECLARATION}<Subscription><SubscriptionId>${sub.id}</SubscriptionId>` +
    `<ExpirationDateTime>${wireTimestamp(sub.expiresMs)}</ExpirationDateTime>` +
    `<ChannelUrl>${escapeXml(`${ex.origin}${sfs}/Subscription/${sub.id}/Channel`)}</ChannelUrl></Subscription>`
  );
}

/** The SFS path prefix of this request (`/personal/x/_api/SPFileSync/sync/{list}`), as the client spelled it. */
function sfsPath(ex: Exchange): string {
  return ex.url.pathname.replace(/\/subscription(\/.*)?$/i, '');
}

/** The caller's own live subscription, or undefined (another user's subscription is as unknown as a missing one). */
function own(ctx: ServerContext, ex: Exchange, id: string): Subscription | undefined {
  const sub = ctx.subscriptions.get(id);
  return sub !== undefined && sub.owner === ex.user.toLowerCase() ? sub : undefined;
}

/** `POST SFS/Subscription` (create) and `POST SFS/Subscription/{id}` (renew). */
export async function postSubscription(
  ctx: ServerContext,
  ex: Exchange,
  id: string | undefined,
): Promise<void> {
  if (!(await requireDigest(ctx, ex))) return;
  const fields = parseSubscription(await readBody(ex));
  if (id !== undefined) {
    if (own(ctx, ex, id) === undefined) return sendError(ex.req, ex.res, ex.stats, 404);
    const sub = ctx.subscriptions.renew(id, expiry(ctx, fields.ExpirationDateTime))!;
    return sendBody(ex.req, ex.res, ex.stats, 200, XML_CONTENT_TYPE, subscriptionXml(ex, sfsPath(ex), sub));
  }
  const url = fields.NotificationUrl ?? '';
  if (url.toLowerCase() !== 'longpoll' && !NOTIFICATION_URL_ALLOWLIST.some((re) => re.test(url))) {
    throw new HttpError(400, 'NotificationUrl must be "longpoll"');
  }
  const clientState = fields.ClientState ?? '';
  if (clientState.length > MAX_CLIENT_STATE_CHARS) throw new HttpError(400, 'ClientState too long');
  const sub = ctx.subscriptions.create(
    expiry(ctx, fields.ExpirationDateTime),
    clientState,
    ex.user.toLowerCase(),
  );
  return sendBody(ex.req, ex.res, ex.stats, 201, XML_CONTENT_TYPE, subscriptionXml(ex, sfsPath(ex), sub));
}

/** `DELETE SFS/Subscription/{id}` → 204, or 404 when unknown or expired. */
export async function deleteSubscription(ctx: ServerContext, ex: Exchange, id: string): Promise<void> {
  if (!(await requireDigest(ctx, ex))) return;
  if (own(ctx, ex, id) === undefined) return sendError(ex.req, ex.res, ex.stats, 404);
  ctx.subscriptions.remove(id);
  ex.res.statusCode = 204;
  ex.res.end();
}

/** `GET SFS/Subscription/{id}/Channel?timeout=s` → 200 notification, 204 on timeout, 404 unknown/expired/deleted. */
export async function subscriptionChannel(ctx: ServerContext, ex: Exchange, id: string): Promise<void> {
  const sub = own(ctx, ex, id);
  if (sub === undefined) return sendError(ex.req, ex.res, ex.stats, 404);
  const timeoutS = Math.min(ex.query.int('timeout', DEFAULT_CHANNEL_TIMEOUT_S), MAX_CHANNEL_TIMEOUT_S);
  const hangUp = new AbortController();
  const onClose = (): void => hangUp.abort();
  ex.res.once('close', onClose);
  const outcome = await ctx.subscriptions.wait(sub.id, timeoutS * 1000, hangUp.signal);
  ex.res.off('close', onClose);
  if (hangUp.signal.aborted) return;
  if (outcome === 'gone') return sendError(ex.req, ex.res, ex.stats, 404);
  if (outcome === 'timeout') {
    ex.res.statusCode = 204;
    ex.res.setHeader('Cache-Control', 'private, max-age=0');
    ex.res.end();
    return;
  }
  const body =
    `${XML_DECLARATION}<Notification><ListId>${ctx.meta.listId}</ListId><SubscriptionId>${sub.id}</SubscriptionId>` +
    `<ClientState>${escapeXml(sub.clientState)}</ClientState></Notification>`;
  return sendBody(ex.req, ex.res, ex.stats, 200, XML_CONTENT_TYPE, body);
}
