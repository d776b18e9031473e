// Row shapes of the server store: items as handlers see them, rows to insert, patches, and who wrote a change.
export type StoredKind = 'folder' | 'document';
export type ChangeKind = 'create' | 'content' | 'rename' | 'move' | 'meta' | 'delete';

export interface StoredItem {
  ord: number;
  id: string;
  /** null only for the library root. */
  parentId: string | null;
  name: string;
  kind: StoredKind;
  size: number;
  version: number;
  hash: string | null;
  mime: string | null;
  createdMs: number;
  modifiedMs: number;
  blob: string | null;
  deleted: boolean;
  lastSeq: number;
  changedMs: number;
  /** X-CustomIdentity of the last writer, if it sent one. */
  modifier: string | null;
  modifiedBy: string | null;
  createdBy: string | null;
  lockedBy: string | null;
}

export interface LibraryMeta {
  listId: string;
  siteId: string;
  rootId: string;
  epoch: string;
}

/** A row to insert: ids already assigned, parents listed before their children. */
export interface NewItem {
  id: string;
  parentId: string;
  name: string;
  kind: StoredKind;
  size: number;
  hash: string | null;
  mime: string | null;
  createdMs: number;
  modifiedMs: number;
  blob: string | null;
}

/** Who made a change: the authenticated user and the client's X-CustomIdentity. */
export interface Writer {
  user: string | null;
  identity: string | null;
}

/** Fields an update may change; absent = unchanged. */
export interface ItemPatch {
  name?: string;
  parentId?: string;
  size?: number;
  hash?: string | null;
  mime?: string | null;
  blob?: string | null;
  createdMs?: number;
  modifiedMs?: number;
}

export type Row = Record<string, string | number | null>;

export function fromRow(r: Row): StoredItem {
  return {
    ord: r.ord as number,
    id: r.resource_id as string,
    parentId: r.parent_id as string | null,
    name: r.name as string,
    kind: r.kind as StoredKind,
    size: r.size as number,
    version: r.version as number,
    hash: r.hash as string | null,
    mime: r.mime as string | null,
    createdMs: r.created_ms as number,
    modifiedMs: r.modified_ms as number,
    blob: r.blob as string | null,
    deleted: r.deleted !== 0,
    lastSeq: r.last_seq as number,
    changedMs: r.changed_ms as number,
    modifier: (r.modifier as string | null) ?? null,
    modifiedBy: (r.modified_by as string | null) ?? null,
    createdBy: (r.created_by as string | null) ?? null,
    lockedBy: (r.locked_by as string | null) ?? null,
  };
}
