// The one place that changes a library: create a file from staged content, replace content (ETag checked), create a
// folder, rename/move, delete (folders recursively), metadata-only update. SharePoint's rules are enforced here;
// content is renamed into blobs/ (fsynced) before the SQLite transaction that records the change and bumps the ETag.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock';
import { dashedGuid, normaliseGuid } from '../shared/ids';
import { unsafeNameReason } from '../shared/names';
import { SHAREPOINT_MAX_PATH_CHARS, sharePointNameProblem } from '../shared/sharepoint-names';
import { type StagedContent, discardStaged } from './content-staging';
import { type DataPlaneSettings, dataPlane } from './data-plane-settings';
import { PathResolver } from './item-xml';
import { mimeTypeOf } from './mime-types';
import type { ChangeKind, ItemPatch, Store, StoredItem, Writer } from './store';
import { wholeSecond } from './time-format';
import { WriteRefusedError } from './write-errors';

/** What a write needs of the library's context (a ServerContext satisfies it). */
export interface WriteTarget {
  store: Store;
  clock: Clock;
  spaceGrantedBytes: number;
  maxFileSizeBytes: number;
  dataPlane?: Partial<DataPlaneSettings>;
}

/** Who acts: the authenticated user and the client's X-CustomIdentity (stored as ModifierIdentity). */
export interface Actor {
  user: string;
  identity?: string;
}

/** Client-supplied times (DateCreatedOnClient / DateModifiedOnClient), ms; default now. */
export interface ClientTimes {
  createdMs?: number;
  modifiedMs?: number;
}

/** An ETag the client sent: undefined = no check (admin changes), otherwise it must be the current one. */
export type ExpectedETag = string | undefined;

function writer(a: Actor): Writer {
  return { user: a.user, identity: a.identity ?? null };
}

function now(t: WriteTarget): number {
  return wholeSecond(t.clock.now());
}

/** True when `etag` names the item's current version (document `"{GUID},n"`; folder ETag = its ResourceID). */
export function etagMatches(it: StoredItem, etag: string): boolean {
  const e = etag.trim();
  if (it.kind === 'folder') return normaliseGuid(e) === it.id;
  const m = /^"?\{([0-9A-Fa-f-]{36})\},(\d{1,15})"?$/.exec(e);
  return m !== null && m[1]?.toLowerCase() === dashedGuid(it.id) && Number(m[2]) === it.version;
}

function existing(t: WriteTarget, id: string): StoredItem {
  const it = t.store.get(id);
  if (!it || it.deleted) throw new WriteRefusedError('NotFound', `no item ${id}`);
  return it;
}

function checkETag(it: StoredItem, etag: ExpectedETag): void {
  if (etag !== undefined && !etagMatches(it, etag)) {
    throw new WriteRefusedError('Conflict', `stale ETag for ${it.id}`, it);
  }
}

function checkUnlocked(it: StoredItem): void {
  if (it.lockedBy !== null) throw new WriteRefusedError('Locked', `${it.id} is locked`, it);
}

function checkNotRoot(it: StoredItem): void {
  if (it.parentId === null) throw new WriteRefusedError('AccessDenied', 'the library root cannot be changed');
}

function folder(t: WriteTarget, id: string): StoredItem {
  const p = existing(t, id);
  if (p.kind !== 'folder') throw new WriteRefusedError('NotFound', `parent ${id} is not a folder`);
  return p;
}

/** SharePoint's name rules, policy BlockedFileExtensions, the 400-character path, case-insensitive siblings. */
function checkName(
  t: WriteTarget,
  parent: StoredItem,
  name: string,
  kind: StoredItem['kind'],
  self?: StoredItem,
): void {
  const problem = sharePointNameProblem(name) ?? unsafeNameReason(name);
  if (problem !== undefined) throw new WriteRefusedError('InvalidName', `invalid name: ${problem}`);
  const blocked = dataPlane(t).blockedFileExtensions;
  const lower = name.toLowerCase();
  if (kind === 'document' && blocked.some((ext) => lower.endsWith(ext))) {
    throw new WriteRefusedError('InvalidName', 'file type blocked by policy (BlockedFileExtensions)');
  }
  const base = new PathResolver(t.store).pathOf(parent).length + 1 + name.length;
  const deepest = self && self.kind === 'folder' ? base + deepestSuffix(t.store, self.id) : base;
  if (deepest > SHAREPOINT_MAX_PATH_CHARS) {
    throw new WriteRefusedError('InvalidName', `path longer than ${SHAREPOINT_MAX_PATH_CHARS} characters`);
  }
  if (t.store.nameTaken(parent.id, name, self?.id)) {
    throw new WriteRefusedError('NameConflict', `an item named ${JSON.stringify(name)} exists`);
  }
}

/** Length of the longest `/child/grandchild...` path below a folder. */
function deepestSuffix(store: Store, id: string): number {
  let best = 0;
  for (const c of store.liveChildren(id)) {
    const len = 1 + c.name.length + (c.kind === 'folder' ? deepestSuffix(store, c.id) : 0);
    if (len > best) best = len;
  }
  return best;
}

function checkSize(t: WriteTarget, newSize: number, oldSize: number): void {
  if (newSize > t.maxFileSizeBytes) {
    throw new WriteRefusedError('Failure', `larger than MaxFileSize ${t.maxFileSizeBytes}`, undefined, 413);
  }
  if (t.store.spaceUsed() - oldSize + newSize > t.spaceGrantedBytes) {
    throw new WriteRefusedError('QuotaExceeded', 'the site quota would be exceeded');
  }
}

/** Moves staged content into blobs/ under a fresh name and fsyncs the folder; returns the blob name. */
function commitBlob(store: Store, content: StagedContent, id: string): string {
  const name = `${id}.${randomUUID().slice(0, 8)}`;
  fs.mkdirSync(store.blobDir, { recursive: true });
  fs.renameSync(content.path, path.join(store.blobDir, name));
  const dir = fs.openSync(store.blobDir, 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
  return name;
}

/** Best effort: a blob left behind by a crash is removed by the start-up sweep. */
function dropBlob(store: Store, blob: string | null): void {
  if (blob !== null) fs.rmSync(path.join(store.blobDir, blob), { force: true });
}

/** Runs the checks, then (content first) the commit; staged content is consumed either way. */
function withContent<T>(
  t: WriteTarget,
  content: StagedContent,
  id: string,
  check: () => void,
  commit: (blob: string) => T,
): T {
  try {
    check();
  } catch (err) {
    discardStaged(content);
    throw err;
  }
  const blob = commitBlob(t.store, content, id);
  try {
    return commit(blob);
  } catch (err) {
    dropBlob(t.store, blob);
    throw err;
  }
}

/** E8 Create of a document. */
export function createDocument(
  t: WriteTarget,
  actor: Actor,
  req: { parentId: string; name: string; content: StagedContent; mime?: string } & ClientTimes,
): StoredItem {
  const id = normaliseGuid(randomUUID()) as string;
  return withContent(
    t,
    req.content,
    id,
    () => {
      const parent = folder(t, req.parentId);
      checkName(t, parent, req.name, 'document');
      checkSize(t, req.content.size, 0);
    },
    (blob) => {
      const nowMs = now(t);
      return t.store.insertItem(
        {
          id,
          parentId: req.parentId,
          name: req.name,
          kind: 'document',
          size: req.content.size,
          hash: req.content.hash,
          mime: req.mime ?? mimeTypeOf(req.name),
          createdMs: req.createdMs ?? nowMs,
          modifiedMs: req.modifiedMs ?? nowMs,
          blob,
        },
        writer(actor),
        nowMs,
      );
    },
  );
}

/** E8 Update with content: new version of an existing document. */
export function updateContent(
  t: WriteTarget,
  actor: Actor,
  req: {
    id: string;
    etag: ExpectedETag;
    content: StagedContent;
    name?: string;
    parentId?: string;
  } & ClientTimes,
): StoredItem {
  let old: StoredItem | undefined;
  const item = withContent(
    t,
    req.content,
    req.id,
    () => {
      old = existing(t, req.id);
      if (old.kind !== 'document') throw new WriteRefusedError('Failure', 'a folder has no content');
      checkETag(old, req.etag);
      checkUnlocked(old);
      placement(t, old, req);
      checkSize(t, req.content.size, old.size);
    },
    (blob) =>
      t.store.updateItem(
        req.id,
        {
          ...placementPatch(old as StoredItem, req),
          size: req.content.size,
          hash: req.content.hash,
          blob,
          modifiedMs: req.modifiedMs ?? now(t),
          ...(req.createdMs !== undefined ? { createdMs: req.createdMs } : {}),
        },
        'content',
        writer(actor),
        now(t),
      ),
  );
  dropBlob(t.store, old?.blob ?? null);
  return item;
}

/** Checks a rename/move target; returns nothing, throws a refusal. */
function placement(t: WriteTarget, it: StoredItem, req: { name?: string; parentId?: string }): void {
  const name = req.name ?? it.name;
  const parentId = req.parentId ?? (it.parentId as string);
  if (name === it.name && parentId === it.parentId) return;
  const parent = folder(t, parentId);
  if (it.kind === 'folder') {
    for (let p: StoredItem | undefined = parent; p; p = p.parentId ? t.store.get(p.parentId) : undefined) {
      if (p.id === it.id) throw new WriteRefusedError('Failure', 'cannot move a folder into itself');
    }
  }
  checkName(t, parent, name, it.kind, it);
}

function placementPatch(it: StoredItem, req: { name?: string; parentId?: string }): ItemPatch {
  return {
    ...(req.name !== undefined && req.name !== it.name ? { name: req.name } : {}),
    ...(req.parentId !== undefined && req.parentId !== it.parentId ? { parentId: req.parentId } : {}),
  };
}

/** E8 Create of a folder. */
export function createFolder(
  t: WriteTarget,
  actor: Actor,
  req: { parentId: string; name: string } & ClientTimes,
): StoredItem {
  const parent = folder(t, req.parentId);
  checkName(t, parent, req.name, 'folder');
  const nowMs = now(t);
  const id = normaliseGuid(randomUUID()) as string;
  return t.store.insertItem(
    {
      id,
      parentId: parent.id,
      name: req.name,
      kind: 'folder',
      size: 0,
      hash: null,
      mime: null,
      createdMs: req.createdMs ?? nowMs,
      modifiedMs: req.modifiedMs ?? nowMs,
      blob: null,
    },
    writer(actor),
    nowMs,
  );
}

/** E8 Update without content: rename and/or move and/or new client times (metadata-only). */
export function updateMetadata(
  t: WriteTarget,
  actor: Actor,
  req: { id: string; etag: ExpectedETag; name?: string; parentId?: string } & ClientTimes,
): StoredItem {
  const it = existing(t, req.id);
  checkNotRoot(it);
  checkETag(it, req.etag);
  checkUnlocked(it);
  placement(t, it, req);
  const patch: ItemPatch = {
    ...placementPatch(it, req),
    ...(req.createdMs !== undefined ? { createdMs: req.createdMs } : {}),
    ...(req.modifiedMs !== undefined ? { modifiedMs: req.modifiedMs } : {}),
  };
  const kind: ChangeKind =
    patch.parentId !== undefined ? 'move' : patch.name !== undefined ? 'rename' : 'meta';
  return t.store.updateItem(it.id, patch, kind, writer(actor), now(t));
}

/** Rename/move only (the admin endpoint's shorthand). */
export function moveItem(
  t: WriteTarget,
  actor: Actor,
  req: { id: string; etag: ExpectedETag; name?: string; parentId?: string },
): StoredItem {
  return updateMetadata(t, actor, req);
}

/** E8 Delete / DELETE Items/{R}: a folder goes with its whole subtree; a locked item anywhere in it refuses. */
export function deleteItem(t: WriteTarget, actor: Actor, req: { id: string; etag: ExpectedETag }): void {
  const it = existing(t, req.id);
  checkNotRoot(it);
  checkETag(it, req.etag);
  const lockedBelow = (cur: StoredItem): void => {
    checkUnlocked(cur);
    if (cur.kind === 'folder') for (const c of t.store.liveChildren(cur.id)) lockedBelow(c);
  };
  lockedBelow(it);
  const gone = t.store.remove(it.id, now(t), writer(actor));
  for (const g of gone) dropBlob(t.store, g.blob);
}

/** Locks (owner) or unlocks (null) an item: writes to it get Locked / 423 until unlocked. */
export function setItemLock(t: WriteTarget, id: string, owner: string | null): StoredItem {
  existing(t, id);
  t.store.setLock(id, owner);
  return existing(t, id);
}
