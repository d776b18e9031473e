// Decides which server items may enter the local tree: unsafe names, self-parenting items, moves that would make a
// folder its own ancestor, a ResourceID a page repeats, and items whose parent is unknown (or not a folder) are left
// out with a warning naming the ResourceID, so nothing lands outside the tree and the tree stays a tree.
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { RemoteItem } from '../protocol/types';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { unsafeNameReason } from '../shared/names';

export interface ScreenContext {
  store: MetadataStore;
  rootId: ItemId;
  logger: Logger;
}

export interface ScreenedPage {
  upserts: StoredItem[];
  deletes: ItemId[];
  skipped: number;
}

export function toStoredItem(r: RemoteItem): StoredItem {
  const item: StoredItem = {
    id: r.id,
    parentId: r.parentId,
    name: r.name,
    kind: r.kind,
    size: r.kind === 'folder' ? 0 : r.size,
    etag: r.etag,
    createdMs: r.created.getTime(),
    modifiedMs: r.modified.getTime(),
  };
  if (r.hash !== undefined) item.hash = r.hash;
  if (r.downloadUrl !== undefined) item.downloadUrl = r.downloadUrl;
  if (r.mimeType !== undefined) item.mimeType = r.mimeType;
  return item;
}

/**
 * Splits a page (parents before children, as the protocol orders them) into upserts and deletes. An item that can't
 * be shown is also removed locally if we had it (it was renamed or moved to something we can't represent).
 */
export function screenItems(items: readonly RemoteItem[], ctx: ScreenContext): ScreenedPage {
  const out: ScreenedPage = { upserts: [], deletes: [], skipped: 0 };
  const deleted = new Set<string>();
  const folders = new Set<string>([ctx.rootId]);
  /** Parent of every folder this page placed so far (it overrides the store's). */
  const placed = new Map<string, string>();
  /** Live items of this page by ResourceID: a repeat is harmless when identical, else none of them is trusted. */
  const seen = new Set<string>();
  const contradicted = contradictedIds(items);
  const skip = (r: RemoteItem, reason: string): void => {
    // The raw name goes in a field (JSON-escaped by the logger), never into the message text.
    ctx.logger.warn(
      { id: r.id, parentId: r.parentId, name: r.name, reason },
      `skipping server item ${r.id}: ${reason}`,
    );
    out.skipped++;
  };
  for (const r of items) {
    if (r.id === ctx.rootId) {
      if (r.deleted) ctx.logger.warn({ id: r.id }, 'ignoring a tombstone for the library root');
      continue; // the root comes as the page's own folder
    }
    if (r.deleted) {
      out.deletes.push(r.id);
      deleted.add(r.id);
      folders.delete(r.id);
      continue;
    }
    if (contradicted.has(r.id)) {
      skip(r, 'ResourceID repeated in one page with different contents');
      continue;
    }
    if (seen.has(r.id)) continue; // the same item twice, identical
    seen.add(r.id);
    if (r.kind === 'folder' && isOwnAncestor(r, ctx, placed)) {
      // Refused move: the folder stays where it was (its subtree is not dropped for a server's lie).
      skip(r, `moving it under ${r.parentId} would make it its own ancestor`);
      continue;
    }
    const reason = rejectReason(r, ctx, folders, deleted);
    if (reason !== undefined) {
      skip(r, reason);
      if (ctx.store.getItem(r.id) !== undefined) {
        out.deletes.push(r.id);
        deleted.add(r.id);
      }
      continue;
    }
    if (r.kind === 'folder') {
      folders.add(r.id);
      placed.set(r.id, r.parentId);
    }
    out.upserts.push(toStoredItem(r));
  }
  return out;
}

/** ResourceIDs a page gives twice or more as live items that differ (kind, parent, name, ETag or size). */
function contradictedIds(items: readonly RemoteItem[]): Set<string> {
  const first = new Map<string, RemoteItem>();
  const out = new Set<string>();
  for (const r of items) {
    if (r.deleted) continue;
    const f = first.get(r.id);
    if (f === undefined) first.set(r.id, r);
    else if (
      f.kind !== r.kind ||
      f.parentId !== r.parentId ||
      f.name !== r.name ||
      f.etag !== r.etag ||
      f.size !== r.size
    )
      out.add(r.id);
  }
  return out;
}

/** Deepest folder chain walked looking for a cycle; a longer one is treated as one. */
const MAX_DEPTH = 10_000;

/** True when `r`'s new parent chain (this page's placements first, then the store) passes through `r` itself. */
function isOwnAncestor(r: RemoteItem, ctx: ScreenContext, placed: ReadonlyMap<string, string>): boolean {
  let at: string | undefined = r.parentId;
  for (let depth = 0; at !== undefined && at !== ctx.rootId; depth++) {
    if (at === r.id || depth > MAX_DEPTH) return true;
    at = placed.get(at) ?? ctx.store.getItem(at as ItemId)?.parentId ?? undefined;
  }
  return false;
}

function rejectReason(
  r: RemoteItem,
  ctx: ScreenContext,
  folders: ReadonlySet<string>,
  deleted: ReadonlySet<string>,
): string | undefined {
  const nameReason = unsafeNameReason(r.name);
  if (nameReason !== undefined) return `unsafe name (${nameReason})`;
  if (r.parentId === r.id) return 'is its own parent';
  if (deleted.has(r.parentId)) return `parent ${r.parentId} is deleted`;
  if (folders.has(r.parentId)) return undefined;
  const parent = ctx.store.getItem(r.parentId);
  if (parent === undefined) return `parent ${r.parentId} is unknown`;
  if (parent.kind !== 'folder') return `parent ${r.parentId} is not a folder`;
  return undefined;
}
