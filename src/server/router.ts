// Maps a request path to its handler (digest G2: case-insensitive, list id with or without dashes/braces, optional
// trailing slash). Sites are `/personal/<alias>` and `/sites/<name>`; which ones exist is asked of `findSite`.
import { normaliseGuid } from '../shared/ids';
import type { Exchange, ServerContext } from './context';
import { bits, isBitsRequest } from './handlers/bits';
import { changes } from './handlers/changes';
import { contextInfo } from './handlers/context-info';
import { deleteItemHandler } from './handlers/delete-item';
import { writeBatch } from './handlers/write-batch';
import { HttpError } from './server-errors';
import { defaultLibraryId, getMyProperties, siteId } from './handlers/discovery';
import { download } from './handlers/download';
import { items } from './handlers/items';
import { policy } from './handlers/policy';
import { rootFolder } from './handlers/root-folder';
import { deleteSubscription, postSubscription, subscriptionChannel } from './handlers/subscription';

export type Route = (ctx: ServerContext, ex: Exchange) => Promise<void>;

export interface RouteMatch {
  /** Methods this route answers; others get 405. */
  methods: readonly string[];
  run: Route;
  /** The site part of the path (`personal/<name>`, `sites/<name>`) as configured, if any. */
  site?: string;
  /** The list id of an SPFileSync path, normalised (32 hex), or '' when malformed; the caller checks it. */
  listId?: string;
}

/** Canonical site key (`personal/alice`) of a site path, any case, or undefined when no such site is hosted. */
export type SiteLookup = (key: string) => string | undefined;

const GET = ['GET', 'HEAD'] as const;
/** BITS packets: POST + X-Http-Method-Override (and the verb itself where the HTTP parser lets it through). */
const BITS_METHODS = ['POST', 'BITS_POST'] as const;
const WRITABLE = [...GET, ...BITS_METHODS] as const;

/** `pathname` is the raw URL path. */
export function route(pathname: string, findSite: SiteLookup): RouteMatch | undefined {
  const segs = pathname.split('/').filter((s) => s.length > 0);
  const lower = segs.map((s) => s.toLowerCase());
  let site: string | undefined;
  let rest = lower;
  let restRaw = segs;
  if ((lower[0] === 'personal' || lower[0] === 'sites') && lower[1] !== undefined) {
    site = findSite(`${lower[0]}/${decodeSeg(lower[1])}`);
    if (site === undefined) return undefined;
    rest = lower.slice(2);
    restRaw = segs.slice(2);
  }
  const p = rest.join('/');
  let listId: string | undefined;
  const withSite = (m: Omit<RouteMatch, 'site'>): RouteMatch | undefined =>
    site === undefined ? undefined : { ...m, site, ...(listId !== undefined ? { listId } : {}) };

  if (p === '_api/sp.userprofiles.peoplemanager/getmyproperties') {
    return { methods: GET, run: getMyProperties, ...(site !== undefined ? { site } : {}) };
  }
  if (p === '_api/web/defaultdocumentlibrary/id') return withSite({ methods: GET, run: defaultLibraryId });
  if (p === '_api/site/id') return withSite({ methods: GET, run: siteId });
  if (p === '_layouts/15/download.aspx') return withSite({ methods: GET, run: download });
  if (p === '_api/contextinfo') return withSite({ methods: ['POST'], run: contextInfo });

  if (rest[0] === '_api' && rest[1] === 'spfilesync' && rest[2] === 'sync' && rest[3] !== undefined) {
    listId = normaliseGuid(decodeSeg(restRaw[3] ?? '')) ?? '';
    const tail = rest.slice(4);
    if (tail[0] === 'subscription') {
      const subId = decodeSeg(restRaw[5] ?? '');
      if (tail.length === 1)
        return withSite({ methods: ['POST'], run: (c, e) => postSubscription(c, e, undefined) });
      if (tail.length === 2) {
        return withSite({
          methods: ['POST', 'DELETE'],
          run: (c, e) => (e.req.method === 'DELETE' ? deleteSubscription : postSubscription)(c, e, subId),
        });
      }
      if (tail.length === 3 && tail[2] === 'channel')
        return withSite({ methods: GET, run: (c, e) => subscriptionChannel(c, e, subId) });
    }
    if (tail.length === 1 && tail[0] === 'policy') return withSite({ methods: GET, run: policy });
    if (tail.length === 1 && tail[0] === 'rootfolder') {
      return withSite({
        methods: WRITABLE,
        run: (ctx, ex) => {
          if (isBitsRequest(ex)) return bits(ctx, ex);
          if (ex.req.method === 'POST') return writeBatch(ctx, ex);
          return ((ex.query.get('Filter') ?? '').toLowerCase() === 'changes' ? changes : rootFolder)(ctx, ex);
        },
      });
    }
    if (tail.length === 2 && tail[0] === 'items') {
      const rawId = decodeSeg(restRaw[5] ?? '');
      return withSite({
        methods: [...GET, 'DELETE', ...BITS_METHODS],
        run: (ctx, ex) => {
          if (isBitsRequest(ex)) return bits(ctx, ex);
          if (ex.req.method === 'POST')
            throw new HttpError(405, 'POST on Items/{R} is for BITS packets only');
          return ex.req.method === 'DELETE' ? deleteItemHandler(ctx, ex, rawId) : items(ctx, ex, rawId);
        },
      });
    }
  }
  return undefined;
}

function decodeSeg(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
