// `DELETE SFS/Items/{R}` with `If-Match` (digest §4.4, our addition): 204 deleted, 412 stale ETag, 404 unknown,
// 423 locked, 403 the root. Folders go with their subtree. Needs a form digest like every write.
import { normaliseGuid } from '../../shared/ids';
import type { Exchange, ServerContext } from '../context';
import { requireDigest } from '../form-digest';
import { sendError } from '../http-util';
import { WriteRefusedError } from '../write-errors';
import { deleteItem } from '../write-ops';

export async function deleteItemHandler(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  if (!(await requireDigest(ctx, ex))) return;
  ex.req.resume();
  const id = normaliseGuid(rawId);
  const ifMatch = ex.req.headers['if-match'];
  const etag = typeof ifMatch === 'string' && ifMatch.trim() !== '*' ? ifMatch.trim() : undefined;
  try {
    if (id === undefined) throw new WriteRefusedError('NotFound', `not a ResourceID: ${rawId.slice(0, 64)}`);
    const identity = ex.req.headers['x-customidentity'];
    deleteItem(ctx, { user: ex.user, ...(typeof identity === 'string' ? { identity } : {}) }, { id, etag });
  } catch (err) {
    if (err instanceof WriteRefusedError) return sendError(ex.req, ex.res, ex.stats, err.httpStatus);
    throw err;
  }
  const except = ex.req.headers['x-subscriptionidtonotnotify'];
  ctx.notifyChange(typeof except === 'string' ? except : undefined);
  ex.res.statusCode = 204;
  ex.res.end();
}
