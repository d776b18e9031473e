// E5: the library root's metadata, with quota elements when `web3s.expand=QuotaState` asks for them.
import type { Exchange, ServerContext } from '../context';
import { XML_CONTENT_TYPE, sendBody } from '../http-util';
import { PathResolver, XML_DECLARATION, quotaXml, renderItem } from '../item-xml';
import { currentQuota, expandSet, quotaHeaders } from '../quota';

export function rootFolder(ctx: ServerContext, ex: Exchange): Promise<void> {
  const root = ctx.store.live(ctx.meta.rootId);
  const expand = expandSet(ex.query.get('web3s.expand'));
  const quota = currentQuota(ctx);
  const body = renderItem(root, ctx.meta.listId, ex.siteUrl, new PathResolver(ctx.store), {
    ...(expand.has('totalsubitemsize') ? { totalSubItemSize: quota.used } : {}),
    ...(expand.has('quotastate') ? { tail: quotaXml(quota) } : {}),
  });
  return sendBody(
    ex.req,
    ex.res,
    ex.stats,
    200,
    XML_CONTENT_TYPE,
    XML_DECLARATION + body,
    quotaHeaders(quota),
  );
}
