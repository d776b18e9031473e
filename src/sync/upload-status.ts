// What the upload journal still holds, as library paths, for `spfs status`, `spfs flush PATH` and log lines; and
// which upload failures are permanent (kept locally and reported, never retried).
import { LocalCopyMissingError } from './errors';
import type { FolderLister } from './folder-lister';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { JournalEntry } from '../cache/upload-journal';
import { HttpStatusError, WriteRejectedError } from '../protocol/errors';
import { InvalidInputError } from '../shared/errors';
import type { ItemId } from '../shared/ids';

export interface PendingUpload {
  id: ItemId;
  path: string;
  bytes: number;
  op: 'create' | 'update' | 'move' | 'delete';
  failure?: string;
  permanent: boolean;
}

/** Library-relative path of an item ("/a/b.txt"), from the stored tree. */
export function itemPath(store: MetadataStore, id: ItemId | undefined): string {
  const names: string[] = [];
  const root = store.rootId();
  let cur = id === undefined ? undefined : store.getItem(id);
  for (let guard = 0; cur !== undefined && cur.id !== root && guard < 1000; guard++) {
    names.unshift(cur.name);
    cur = store.getItem(cur.parentId);
  }
  return `/${names.join('/')}`;
}

/** Every journal entry with its path, size and last failure. */
export function pendingUploads(store: MetadataStore): PendingUpload[] {
  return store.journal.all().map((e) => pendingUpload(store, e));
}

/** What status, flush and unmount report of (part of) the queue: its totals, and at most a limit of its entries. */
export interface QueueSummary {
  files: number;
  bytes: number;
  failing: number;
  /** Refused for good: a drain stops waiting once only these are left. */
  permanent: number;
  listed: PendingUpload[];
}

/** The whole queue from SQL totals, with at most `limit` entries (failing ones first): no path per entry. */
export function queueSummary(store: MetadataStore, limit: number): QueueSummary {
  const t = store.journal.totals();
  const listed = store.journal.listed(limit).map((e) => pendingUpload(store, e));
  return { files: t.files, bytes: t.bytes, failing: t.failures, permanent: t.permanent, listed };
}

/** The same of the entries under `paths` (each entry's path is needed to choose: flush PATH). */
export function summarise(entries: readonly PendingUpload[], limit: number): QueueSummary {
  const failingFirst = [...entries].sort(
    (a, b) => Number(a.failure === undefined) - Number(b.failure === undefined),
  );
  return {
    files: entries.length,
    bytes: entries.reduce((n, p) => n + p.bytes, 0),
    failing: entries.filter((p) => p.failure !== undefined).length,
    permanent: entries.filter((p) => p.permanent).length,
    listed: failingFirst.slice(0, limit),
  };
}

function pendingUpload(store: MetadataStore, e: JournalEntry): PendingUpload {
  const p: PendingUpload = {
    id: e.itemId,
    path: e.deleted ? `${itemPath(store, e.remoteParent)}/${e.remoteName ?? ''}` : itemPath(store, e.itemId),
    bytes: e.content ? e.size : 0,
    op: e.deleted ? 'delete' : e.baseEtag === undefined ? 'create' : e.content ? 'update' : 'move',
    permanent: e.permanent,
  };
  if (e.failure !== undefined) p.failure = e.failure;
  return p;
}

/** Whether `path` is one of `paths` or under one of them (no paths: everything matches). */
export function matches(path: string, paths: readonly string[] | undefined): boolean {
  if (paths === undefined || paths.length === 0) return true;
  return paths.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`));
}

const PERMANENT_STATUSES = new Set(['InvalidName', 'AccessDenied', 'QuotaExceeded']);

/** Refusals that no retry will change: forbidden name, no permission, quota, too large, malformed. */
export function isPermanent(err: unknown): boolean {
  if (err instanceof WriteRejectedError) return PERMANENT_STATUSES.has(err.status);
  if (err instanceof InvalidInputError || err instanceof LocalCopyMissingError) return true;
  if (err instanceof HttpStatusError) return err.status === 413 || err.status === 400;
  return false;
}

/**
 * The item at a library-relative path ("/a/b.txt", "/" for the root), from the stored tree, case-insensitively; a
 * folder whose documents are not known yet (a first mount's background pass) is listed first when `lister` is given.
 */
export async function itemAtPath(
  store: MetadataStore,
  path: string,
  lister?: Pick<FolderLister, 'isComplete' | 'ensureListed'>,
): Promise<StoredItem | undefined> {
  const root = store.rootId();
  let cur = root === undefined ? undefined : store.getItem(root);
  for (const name of path.split('/').filter((s) => s !== '' && s !== '.')) {
    if (cur === undefined || cur.kind !== 'folder') return undefined;
    let next = store.getChild(cur.id, name);
    if (next === undefined && lister !== undefined && !lister.isComplete(cur.id)) {
      await lister.ensureListed(cur.id);
      next = store.getChild(cur.id, name);
    }
    cur = next;
  }
  return cur;
}
