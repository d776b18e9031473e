// Decides which server items may enter the local tree: unsafe names, self-parenting items and items whose parent is
// unknown (or not a folder) are left out with a warning naming the ResourceID, so nothing lands outside the tree.
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
    const reason = rejectReason(r, ctx, folders, deleted);
    if (reason !== undefined) {
      // The raw name goes in a field (JSON-escaped by the logger), never into the message text.
      ctx.logger.warn(
        { id: r.id, parentId: r.parentId, name: r.name, reason },
        `skipping server item ${r.id}: ${reason}`,
      );
      out.skipped++;
      if (ctx.store.getItem(r.id) !== undefined) {
        out.deletes.push(r.id);
        deleted.add(r.id);
      }
      continue;
    }
    if (r.kind === 'folder') folders.add(r.id);
    out.upserts.push(toStoredItem(r));
  }
  return out;
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
