// E7 change enumeration (digest §3.3, §4.2, G4/G7/G8/G10): FullData pages in insertion order, IncrementalChanges
// (latest state per item, tombstones) in change order, NoChanges, CurrentSyncTokenOnly; nested or flat.
import type { Exchange, ServerContext } from '../context';
import { dataPlane } from '../data-plane-settings';
import { XML_CONTENT_TYPE, sendBody } from '../http-util';
import { PathResolver, XML_DECLARATION, quotaXml, renderItem } from '../item-xml';
import { currentQuota, quotaHeaders } from '../quota';
import type { StoredItem } from '../store';
import { type SyncPosition, changeToken, formatSyncToken, parseSyncToken } from '../sync-token';
import { msToTicks } from '../time-format';
import { MAX_PAGE_ITEMS } from './items';

type Status = 'FullData' | 'IncrementalChanges' | 'NoChanges' | 'CurrentSyncTokenOnly' | 'ResyncNeeded';

export function changes(ctx: ServerContext, ex: Exchange): Promise<void> {
  const { store, meta } = ctx;
  const flat = String(ex.req.headers['x-responsestructure'] ?? '').toLowerCase() === 'flat';
  const limit = Math.min(Math.max(ex.query.int('MaxItemCount', ctx.itemCount), 1), MAX_PAGE_ITEMS);
  pruneChangeLog(ctx);
  const current = store.currentSeq();
  const generation = store.generation();
  const position = (seq: number, fullCursor?: number): SyncPosition => ({
    listId: meta.listId,
    seq,
    ticks: msToTicks(store.changeTime(seq) ?? 0),
    ...(fullCursor !== undefined ? { fullCursor } : {}),
    ...(generation !== 0 ? { generation } : {}),
  });

  const raw = ex.query.get('SyncToken');
  const tok = raw === undefined || raw === '' ? undefined : parseSyncToken(raw);
  if (raw !== undefined && raw !== '' && (tok === undefined || tok.listId !== meta.listId)) {
    return respond(ctx, ex, flat, 'CurrentSyncTokenOnly', undefined, false, []);
  }
  if (tok !== undefined && needsResync(ctx, tok, current)) {
    const action = dataPlane(ctx).resyncAction;
    ex.res.setHeader('ResyncAction', action);
    ex.res.setHeader('X-ResyncAction', action);
    return respond(ctx, ex, flat, 'ResyncNeeded', undefined, false, []);
  }

  if (tok === undefined || tok.fullCursor !== undefined) {
    // Full enumeration against the snapshot taken by its first page; later changes reach the client through the
    // incremental pass that starts from the snapshot's token.
    const snapshot = tok?.seq ?? current;
    const cursor = tok?.fullCursor ?? 0;
    const rows = store.fullPage(cursor, limit + 1);
    const page = rows.slice(0, limit);
    const hasMore = rows.length > limit;
    const last = page[page.length - 1];
    const next = hasMore && last ? position(snapshot, last.ord) : position(snapshot);
    const entries = withAncestors(ctx, page, flat, (a) => a.ord > cursor);
    return respond(ctx, ex, flat, 'FullData', next, hasMore, entries);
  }

  const rows = store.changesAfter(tok.seq, limit + 1);
  if (rows.length === 0) return respond(ctx, ex, flat, 'NoChanges', position(current), false, []);
  const page = rows.slice(0, limit);
  const hasMore = rows.length > limit;
  const last = page[page.length - 1];
  const next = hasMore && last ? position(last.lastSeq) : position(current);
  const entries = withAncestors(ctx, page, flat, (a) => a.lastSeq > tok.seq);
  return respond(ctx, ex, flat, 'IncrementalChanges', next, hasMore, entries);
}

/**
 * A token the change log can no longer answer: issued before a restore (another generation, a position the log
 * never reached, or a position whose change time differs: history diverged) or older than the retention window.
 */
function needsResync(ctx: ServerContext, tok: SyncPosition, current: number): boolean {
  const store = ctx.store;
  if ((tok.generation ?? 0) !== store.generation()) return true;
  if (tok.seq > current) return true;
  if (tok.seq < store.prunedSeq()) return true;
  const at = store.changeTime(tok.seq);
  return at !== undefined && tok.fullCursor === undefined && msToTicks(at) !== tok.ticks;
}

/** Change-log retention: prunes at most once a minute per library (cheap: indexed by time). */
const lastPrune = new WeakMap<object, number>();
const PRUNE_INTERVAL_MS = 60_000;

export function pruneChangeLog(ctx: ServerContext): void {
  const now = ctx.clock.now();
  const last = lastPrune.get(ctx.store);
  if (last !== undefined && Math.abs(now - last) < PRUNE_INTERVAL_MS) return;
  lastPrune.set(ctx.store, now);
  ctx.store.prune(now - dataPlane(ctx).changeLogRetentionMs);
}

/**
 * The page's items in document order with the ancestors they need placed before them: nested responses need every
 * ancestor (the tree must be walkable from the root); flat ones only those the client has not been sent yet.
 */
function withAncestors(
  ctx: ServerContext,
  page: StoredItem[],
  flat: boolean,
  undelivered: (a: StoredItem) => boolean,
): StoredItem[] {
  const out: StoredItem[] = [];
  const seen = new Set<string>();
  const inPage = new Set(page.map((p) => p.id));
  const folders = new Map<string, StoredItem | undefined>();
  for (const it of page) {
    if (seen.has(it.id)) continue;
    if (!it.deleted) {
      for (const a of ancestorsOf(ctx, it, folders)) {
        if (seen.has(a.id)) continue;
        if (!flat || inPage.has(a.id) || undelivered(a)) {
          out.push(a);
          seen.add(a.id);
        }
      }
    }
    out.push(it);
    seen.add(it.id);
  }
  return out;
}

/** Live ancestors from the top level down, excluding the root; `memo` caches folder lookups for one page. */
function ancestorsOf(
  ctx: ServerContext,
  it: StoredItem,
  memo: Map<string, StoredItem | undefined>,
): StoredItem[] {
  const chain: StoredItem[] = [];
  let parentId = it.parentId;
  while (parentId !== null && parentId !== ctx.meta.rootId) {
    if (!memo.has(parentId)) memo.set(parentId, ctx.store.get(parentId));
    const p = memo.get(parentId);
    if (!p) break;
    chain.push(p);
    parentId = p.parentId;
  }
  return chain.reverse();
}

function respond(
  ctx: ServerContext,
  ex: Exchange,
  flat: boolean,
  status: Status,
  next: SyncPosition | undefined,
  hasMore: boolean,
  entries: StoredItem[],
): Promise<void> {
  const paths = new PathResolver(ctx.store);
  const render = (it: StoredItem, items?: string): string =>
    renderItem(it, ctx.meta.listId, ex.siteUrl, paths, { changeTime: true, ...(items ? { items } : {}) });
  let inner: string;
  if (flat) {
    inner = entries.map((e) => render(e)).join('');
  } else {
    // Tombstones sit at the top level: their parents may be gone too. Live items nest under their parents.
    const kids = new Map<string, StoredItem[]>();
    const top: StoredItem[] = [];
    const included = new Set(entries.map((e) => e.id));
    for (const e of entries) {
      if (e.deleted || e.parentId === null || e.parentId === ctx.meta.rootId || !included.has(e.parentId))
        top.push(e);
      else {
        const list = kids.get(e.parentId);
        if (list) list.push(e);
        else kids.set(e.parentId, [e]);
      }
    }
    const nest = (it: StoredItem): string => render(it, (kids.get(it.id) ?? []).map(nest).join(''));
    inner = top.map(nest).join('');
  }
  const quota = currentQuota(ctx);
  const root = ctx.store.live(ctx.meta.rootId);
  const body = renderItem(root, ctx.meta.listId, ex.siteUrl, paths, {
    ...(inner ? { items: inner } : {}),
    tail: quotaXml(quota),
  });
  const headers: Record<string, string> = { 'X-SyncStatus': status, ...quotaHeaders(quota) };
  if (next) {
    headers['X-SyncToken'] = formatSyncToken(next);
    headers['X-LastProcessedChange'] = changeToken(next);
  }
  if (status === 'FullData' || status === 'IncrementalChanges')
    headers['X-HasMoreData'] = hasMore ? 'True' : 'False';
  if (flat) headers['X-ResponseStructure'] = 'Flat';
  return sendBody(ex.req, ex.res, ex.stats, 200, XML_CONTENT_TYPE, XML_DECLARATION + body, headers);
}
