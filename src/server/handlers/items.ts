// E6 (a folder's children, paged: digest G9) and E12 (one item's metadata) share the URL `Items/{R}`: a request
// with Depth, FoldersOnly or web3s.paging lists children; a bare one describes the item alone.
import { normaliseGuid } from '../../shared/ids';
import type { Exchange, ServerContext } from '../context';
import { HttpError, ItemNotFoundError } from '../server-errors';
import { XML_CONTENT_TYPE, sendBody } from '../http-util';
import { PathResolver, XML_DECLARATION, renderItem } from '../item-xml';
import { expandSet } from '../quota';
import type { StoredItem } from '../store';

export const MAX_PAGE_ITEMS = 1000;
/** Depth > 0 nests whole subtrees; beyond this many elements the caller must page with Depth=0 instead. */
const MAX_NESTED_ITEMS = 10000;

export function items(ctx: ServerContext, ex: Exchange, rawId: string): Promise<void> {
  const id = normaliseGuid(rawId);
  if (id === undefined) throw new ItemNotFoundError(rawId);
  const item = ctx.store.live(id);
  const q = ex.query;
  const paths = new PathResolver(ctx.store);
  const wantsSize = expandSet(q.get('web3s.expand')).has('totalsubitemsize');
  const sizeOf = (it: StoredItem): object =>
    wantsSize && it.kind === 'folder' ? { totalSubItemSize: ctx.store.subtreeSize(it.id) } : {};
  const send = (xml: string, headers: Record<string, string>): Promise<void> =>
    sendBody(ex.req, ex.res, ex.stats, 200, XML_CONTENT_TYPE, XML_DECLARATION + xml, headers);

  const listing = q.has('Depth') || q.has('FoldersOnly') || q.has('web3s.paging');
  if (!listing || item.kind === 'document') {
    const xml = renderItem(item, ctx.meta.listId, ex.siteUrl, paths, sizeOf(item));
    return send(xml, listing ? { 'X-HasMoreData': 'False' } : {});
  }

  const { offset, count } = parsePaging(q.get('web3s.paging'));
  const depthText = q.get('Depth');
  const depth = depthText === undefined ? Infinity : Number(depthText);
  if (!Number.isInteger(depth) && depth !== Infinity) throw new HttpError(400, 'Depth must be an integer');
  if (depth < 0) throw new HttpError(400, 'Depth must be >= 0');
  const foldersOnly = q.bool('FoldersOnly');
  const page = ctx.store.children(item.id, foldersOnly, offset, count);
  let budget = MAX_NESTED_ITEMS;

  const renderChild = (child: StoredItem, levelsLeft: number): string => {
    if (--budget < 0) throw new HttpError(400, 'subtree too large: page it with Depth=0');
    let inner: string | undefined;
    if (child.kind === 'folder' && levelsLeft > 0) {
      const kids = ctx.store.children(child.id, foldersOnly, 0, Number.MAX_SAFE_INTEGER).items;
      if (kids.length > 0) inner = kids.map((k) => renderChild(k, levelsLeft - 1)).join('');
    }
    return renderItem(child, ctx.meta.listId, ex.siteUrl, paths, {
      ...sizeOf(child),
      ...(inner !== undefined ? { items: inner } : {}),
    });
  };

  const inner = page.items.map((c) => renderChild(c, depth)).join('');
  const xml = renderItem(item, ctx.meta.listId, ex.siteUrl, paths, { ...sizeOf(item), items: inner });
  const hasMore = offset + page.items.length < page.total;
  return send(xml, { 'X-HasMoreData': hasMore ? 'True' : 'False' });
}

/** `web3s.paging=<offset>,<count>`; absent = first 1000; count clamped to 1..1000. */
function parsePaging(raw: string | undefined): { offset: number; count: number } {
  if (raw === undefined) return { offset: 0, count: MAX_PAGE_ITEMS };
  const m = /^\s*(\d{1,9})\s*,\s*(\d{1,9})\s*$/.exec(raw);
  if (!m) throw new HttpError(400, 'web3s.paging must be <offset>,<count>');
  return { offset: Number(m[1]), count: Math.min(Math.max(Number(m[2]), 1), MAX_PAGE_ITEMS) };
}
