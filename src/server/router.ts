// Maps a request path to its handler (digest G2: case-insensitive, list id with or without dashes/braces, optional
// trailing slash). Sites are `/personal/<configured user>`; the one library lives under each of them.
import { normaliseGuid } from '../shared/ids';
import type { Exchange, ServerContext } from './context';
import { changes } from './handlers/changes';
import { defaultLibraryId, getMyProperties, siteId } from './handlers/discovery';
import { download } from './handlers/download';
import { items } from './handlers/items';
import { policy } from './handlers/policy';
import { rootFolder } from './handlers/root-folder';

export type Route = (ctx: ServerContext, ex: Exchange) => Promise<void>;

export interface RouteMatch {
  /** Methods this route answers; others get 405. */
  methods: readonly string[];
  run: Route;
  /** The site part of the path (`personal/<name>`), if any. */
  siteUser?: string;
}

const GET = ['GET', 'HEAD'] as const;

/** `pathname` is the raw URL path. `users` are the configured names (matched case-insensitively). */
export function route(pathname: string, users: readonly string[], listId: string): RouteMatch | undefined {
  const segs = pathname.split('/').filter((s) => s.length > 0);
  const lower = segs.map((s) => s.toLowerCase());
  let siteUser: string | undefined;
  let rest = lower;
  let restRaw = segs;
  if (lower[0] === 'personal' && lower[1] !== undefined) {
    siteUser = users.find((u) => u.toLowerCase() === lower[1]);
    if (siteUser === undefined) return undefined;
    rest = lower.slice(2);
    restRaw = segs.slice(2);
  }
  const p = rest.join('/');
  const withSite = (m: Omit<RouteMatch, 'siteUser'>): RouteMatch | undefined =>
    siteUser === undefined ? undefined : { ...m, siteUser };

  if (p === '_api/sp.userprofiles.peoplemanager/getmyproperties') {
    return { methods: GET, run: getMyProperties, ...(siteUser !== undefined ? { siteUser } : {}) };
  }
  if (p === '_api/web/defaultdocumentlibrary/id') return withSite({ methods: GET, run: defaultLibraryId });
  if (p === '_api/site/id') return withSite({ methods: GET, run: siteId });
  if (p === '_layouts/15/download.aspx') return withSite({ methods: GET, run: download });

  if (rest[0] === '_api' && rest[1] === 'spfilesync' && rest[2] === 'sync' && rest[3] !== undefined) {
    if (normaliseGuid(decodeSeg(restRaw[3] ?? '')) !== listId) return undefined;
    const tail = rest.slice(4);
    if (tail.length === 1 && tail[0] === 'policy') return withSite({ methods: GET, run: policy });
    if (tail.length === 1 && tail[0] === 'rootfolder') {
      return withSite({
        methods: GET,
        run: (ctx, ex) =>
          ((ex.query.get('Filter') ?? '').toLowerCase() === 'changes' ? changes : rootFolder)(ctx, ex),
      });
    }
    if (tail.length === 2 && tail[0] === 'items') {
      const rawId = decodeSeg(restRaw[5] ?? '');
      return withSite({ methods: GET, run: (ctx, ex) => items(ctx, ex, rawId) });
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
