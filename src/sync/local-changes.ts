// The rule that keeps local modifications safe from the change feed: a remote upsert or delete of an item with
// pending local changes (or a delete of a folder above one) is held back; a foreign edit is reported as a conflict.
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { RemoteItem } from '../protocol/types';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';

/** What change sync needs from the upload journal (src/cache/upload-journal.ts implements it). */
export interface LocalChanges {
  hasPendingChange(id: ItemId): boolean;
  pendingIds(): Iterable<ItemId>;
}

/** A remote change (an item, or `undefined` for a delete) that met pending local changes of the same item. */
export type RemoteConflictHandler = (id: ItemId, remote: RemoteItem | undefined) => void;

export interface HoldContext {
  store: MetadataStore;
  localChanges: LocalChanges;
  ownIdentity: string | undefined;
  onRemoteConflict: RemoteConflictHandler | undefined;
  logger: Logger;
}

export function holdLocalChanges(
  screened: { upserts: StoredItem[]; deletes: ItemId[] },
  remote: readonly RemoteItem[],
  ctx: HoldContext,
): { upserts: StoredItem[]; deletes: ItemId[] } {
  const byId = new Map(remote.map((r) => [r.id, r]));
  const upserts = screened.upserts.filter((u) => {
    if (!ctx.localChanges.hasPendingChange(u.id)) return true;
    const r = byId.get(u.id);
    const old = ctx.store.getItem(u.id);
    if (old?.etag === u.etag) return true; // nothing new on the server (e.g. a full pass re-listing it)
    if (r?.modifierIdentity !== undefined && r.modifierIdentity === ctx.ownIdentity) {
      ctx.logger.debug({ id: u.id }, 'our own earlier write came back while newer local changes wait');
    } else {
      ctx.logger.info(
        { id: u.id },
        'remote change to an item with pending local changes; keeping the local one',
      );
      ctx.onRemoteConflict?.(u.id, r);
    }
    return false;
  });
  if (screened.deletes.length === 0) return { upserts, deletes: screened.deletes };
  const guarded = guardedItems(ctx.store, ctx.localChanges.pendingIds());
  const deletes = screened.deletes.filter((id) => {
    const hit = guarded.get(id);
    if (hit === undefined) return true;
    ctx.logger.info(
      { id, pending: hit },
      'remote delete of an item with pending local changes (or of a folder above one); keeping it',
    );
    if (hit === id) ctx.onRemoteConflict?.(id, undefined);
    return false;
  });
  return { upserts, deletes };
}

/**
 * Every item a remote delete must not remove: each pending item and every folder above it, mapped to a pending item
 * it guards (itself when it is one). One walk up from each pending item, stopping where another walk passed, so a
 * page's deletes cost one map lookup each: asking "is a pending item below this one?" per delete and per pending
 * item held the event loop for minutes once a backlog of pending uploads met a page of deletes.
 */
function guardedItems(store: MetadataStore, pendingIds: Iterable<ItemId>): Map<ItemId, ItemId> {
  const pending = [...pendingIds];
  const guarded = new Map<ItemId, ItemId>(pending.map((id) => [id, id]));
  for (const id of pending) {
    for (let up = store.getItem(id)?.parentId; up !== undefined && !guarded.has(up);) {
      guarded.set(up, id);
      up = store.getItem(up)?.parentId;
    }
  }
  return guarded;
}
