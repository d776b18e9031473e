// E1–E3: the verbose-JSON discovery calls a client makes before it speaks SPFileSync.
import { dashedGuid } from '../../shared/ids';
import type { Exchange, ServerContext } from '../context';
import { JSON_CONTENT_TYPE, sendBody } from '../http-util';

function sendJson(ex: Exchange, value: unknown): Promise<void> {
  return sendBody(ex.req, ex.res, ex.stats, 200, JSON_CONTENT_TYPE, JSON.stringify(value));
}

/** E1: the caller's own personal site (`/personal/<alias>`), whose default library is theirs alone. */
export function getMyProperties(_ctx: ServerContext, ex: Exchange): Promise<void> {
  const personalUrl = `${ex.origin}/personal/${ex.user}/`;
  return sendJson(ex, { d: { AccountName: ex.user, DisplayName: ex.user, PersonalUrl: personalUrl } });
}

/** E2: the library's id as a dashed lowercase GUID. */
export function defaultLibraryId(ctx: ServerContext, ex: Exchange): Promise<void> {
  return sendJson(ex, { d: { Id: dashedGuid(ctx.meta.listId) } });
}

/** E3: the site collection's id. */
export function siteId(ctx: ServerContext, ex: Exchange): Promise<void> {
  return sendJson(ex, { d: { Id: dashedGuid(ctx.meta.siteId) } });
}
