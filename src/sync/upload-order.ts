// Which pending changes may go to the server now, as plain functions over the journal. Deletes go first (they free
// names that creates and moves take), except a folder delete whose server subtree still holds something that has
// moved away here: on the server a folder delete takes everything under it, so `mv D/x .; rmdir D` sent delete-first
// would delete x too. Such a delete waits for those moves.
import type { JournalEntry } from '../cache/upload-journal';
import type { ItemId } from '../shared/ids';

export interface ServerPlaces {
  /** The item's parent on the server as this mount knows it (the journal's, else the local one). */
  serverParentOf(id: ItemId): ItemId | undefined;
  /** Whether the entry's item is no longer where the server has it (renamed, moved, or gone here). */
  movedAway(e: JournalEntry): boolean;
}

const MAX_DEPTH = 256;

/** Whether `folder` is `from` or one of its ancestors on the server. */
export function isUnder(from: ItemId | undefined, folder: ItemId, places: ServerPlaces): boolean {
  for (let p = from, i = 0; p !== undefined && i < MAX_DEPTH; p = places.serverParentOf(p), i++) {
    if (p === folder) return true;
  }
  return false;
}

export interface DeletePlan {
  /** Deletes that may go now. */
  free: JournalEntry[];
  /** Folder deletes waiting for moves out of them, with those moves. */
  blocked: Array<{ del: JournalEntry; moves: JournalEntry[] }>;
}

export function planDeletes(
  due: readonly JournalEntry[],
  journal: readonly JournalEntry[],
  places: ServerPlaces,
): DeletePlan {
  const plan: DeletePlan = { free: [], blocked: [] };
  const deletes = due.filter((e) => e.deleted);
  // What has moved away here, found once (a store lookup per row), not once per folder delete.
  const moving = deletes.some((d) => d.kind === 'folder')
    ? journal.filter((x) => !x.deleted && !x.permanent && x.remoteParent !== undefined && places.movedAway(x))
    : [];
  for (const del of deletes) {
    const moves =
      del.kind === 'folder' ? moving.filter((x) => isUnder(x.remoteParent, del.itemId, places)) : [];
    if (moves.length === 0) plan.free.push(del);
    else plan.blocked.push({ del, moves });
  }
  return plan;
}
