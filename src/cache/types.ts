// Plain records the cache layer stores and hands upward: one item of the tree, and the per-library sync state.
import type { ETag, ItemId } from '../shared/ids';

export type StoredKind = 'folder' | 'document';

export interface StoredItem {
  id: ItemId;
  parentId: ItemId;
  name: string;
  kind: StoredKind;
  size: number;
  etag: ETag;
  hash?: string;
  downloadUrl?: string;
  mimeType?: string;
  createdMs: number;
  modifiedMs: number;
}

export interface SyncState {
  /** Which library this database mirrors (site URL + list id); a mismatch means "start over". */
  libraryKey: string;
  listId: string;
  rootId: ItemId;
  /** Change-enumeration token of the last complete pass; null before the first one finishes. */
  token: string | null;
  /** Site quota from the root folder (bytes; state Normal / Nearing / Critical / Exceeded). */
  quota: StoredQuota;
  updatedMs: number;
}

export interface StoredQuota {
  state: string;
  used: number;
  granted: number;
}
