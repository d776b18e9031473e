// Which due journal entries can share one write batch (E8): content uploads of small documents whose place on the
// server is already right — new files in existing folders, and content-only updates —, moves and renames without new
// bytes, and (batchDeletes) deletes of items the server has. Everything else goes alone. A member the batch did not
// write goes again alone, where conflicts and names are sorted out.
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import { isLocalId, type JournalEntry } from '../cache/upload-journal';
import type { WriteOp } from '../protocol/types';
import type { ItemId } from '../shared/ids';

/** Files at least this big go alone (BITS for the large ones), so a big upload never holds small ones back. */
export const BATCH_FILE_MAX_BYTES = 1024 * 1024;
/** At most this many items, and about this many bytes, per write request. */
export const BATCH_MAX_ITEMS = 100;
export const BATCH_MAX_BYTES = 8 * 1024 * 1024;

export interface BatchMember {
  entry: JournalEntry;
  item: StoredItem;
  op: WriteOp;
}

export interface UploadPlan {
  /** Groups sent as one request each. */
  batches: BatchMember[][];
  /** Entries sent one at a time (deletes, folders, moves, large files, …). */
  singles: JournalEntry[];
}

/** The write op for an entry when it can go in a batch, else undefined. */
function batchOp(
  e: JournalEntry,
  store: MetadataStore,
  sourceOf: (id: ItemId) => string | undefined,
): BatchMember | undefined {
  if (e.deleted) return undefined;
  if (!e.content) return moveOp(e, store);
  if (e.kind !== 'document' || e.size >= BATCH_FILE_MAX_BYTES) return undefined;
  const item = store.getItem(e.itemId);
  if (item === undefined || item.kind !== 'document') return undefined;
  const path = sourceOf(item.id);
  if (path === undefined) return undefined; // the single path reports it
  const source = { path };
  if (isLocalId(item.id)) {
    // A create sent before (reply lost?) goes alone: the single path looks for what it made first.
    if (isLocalId(item.parentId) || e.sentTo !== undefined) return undefined;
    return { entry: e, item, op: { op: 'createFile', parentId: item.parentId, name: item.name, source } };
  }
  // An update whose name and place match the server's: content only. A move goes alone (it needs two steps).
  if (e.baseEtag === undefined || e.remoteParent !== item.parentId || e.remoteName !== item.name)
    return undefined;
  return {
    entry: e,
    item,
    op: { op: 'updateFile', item: { id: item.id, etag: e.baseEtag, kind: item.kind }, source },
  };
}

/**
 * A move or rename without new bytes of an item the server has where the journal last put it: one op, on the base
 * ETag (a server version edited since refuses it: the single path then moves the current one).
 */
function moveOp(e: JournalEntry, store: MetadataStore): BatchMember | undefined {
  const item = store.getItem(e.itemId);
  if (item === undefined || isLocalId(item.id) || isLocalId(item.parentId)) return undefined;
  if (e.baseEtag === undefined || e.remoteParent === undefined || e.remoteName === undefined)
    return undefined;
  if (e.remoteParent === item.parentId && e.remoteName === item.name) return undefined; // not a move
  return {
    entry: e,
    item,
    op: {
      op: 'move',
      item: { id: item.id, etag: e.baseEtag, kind: item.kind },
      parentId: item.parentId,
      name: item.name,
    },
  };
}

/** Deletes that can go in batches of BATCH_MAX_ITEMS (the server has them at a known ETag), and the rest. */
export function batchDeletes(free: readonly JournalEntry[]): {
  batches: JournalEntry[][];
  singles: JournalEntry[];
} {
  const batchable = free.filter((e) => e.baseEtag !== undefined);
  const singles = free.filter((e) => e.baseEtag === undefined);
  const batches: JournalEntry[][] = [];
  for (let i = 0; i < batchable.length; i += BATCH_MAX_ITEMS)
    batches.push(batchable.slice(i, i + BATCH_MAX_ITEMS));
  // One alone gains nothing from a batch.
  if (batches.length === 1 && batches[0]!.length === 1) return { batches: [], singles: [...free] };
  return { batches, singles };
}

/** Splits the due entries (in order) into batches of small content uploads and single sends. */
export function planUploads(
  due: readonly JournalEntry[],
  store: MetadataStore,
  sourceOf: (id: ItemId) => string | undefined,
): UploadPlan {
  const plan: UploadPlan = { batches: [], singles: [] };
  let current: BatchMember[] = [];
  let bytes = 0;
  for (const e of due) {
    const m = batchOp(e, store, sourceOf);
    if (m === undefined) {
      plan.singles.push(e);
      continue;
    }
    const adds = m.op.op === 'move' ? 0 : e.size;
    if (current.length >= BATCH_MAX_ITEMS || (current.length > 0 && bytes + adds > BATCH_MAX_BYTES)) {
      plan.batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += adds;
  }
  if (current.length > 0) plan.batches.push(current);
  // A lone small file gains nothing from batching: it takes the single path (which also checks for remote moves).
  for (let i = plan.batches.length - 1; i >= 0; i--) {
    const b = plan.batches[i] as BatchMember[];
    if (b.length === 1) {
      plan.singles.push((b[0] as BatchMember).entry);
      plan.batches.splice(i, 1);
    }
  }
  return plan;
}
