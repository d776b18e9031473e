// Admin "remote changes": create, edit, rename, move or delete a file or folder by path, as a named user, through the
// same write-ops as every client write (ETag bump, change log, notifications), so tests need no second client.
import { Readable } from 'node:stream';
import { InvalidInputError } from '../shared/errors';
import { foldName } from '../shared/names';
import type { ServerContext } from './context';
import { stageStream } from './content-staging';
import type { StoredItem } from './store';
import { createDocument, createFolder, deleteItem, moveItem, updateContent } from './write-ops';

export interface AdminChange {
  op: 'create-file' | 'edit-file' | 'create-folder' | 'rename' | 'move' | 'delete';
  /** Library-relative path, `/`-separated (e.g. `docs/plan.txt`). */
  path: string;
  /** create-file / edit-file: content as UTF-8 text, or `contentBase64`. */
  content?: string;
  contentBase64?: string;
  /** rename: the new name; move: the destination folder's path ('' = root). */
  to?: string;
  /** Acting user (recorded as the writer). Default `spfs-admin`. */
  user?: string;
}

const MAX_ADMIN_CONTENT_BYTES = 64 * 1024 * 1024;

function segments(p: string): string[] {
  return p.split('/').filter((s) => s.length > 0);
}

function resolve(ctx: ServerContext, p: string): StoredItem | undefined {
  let cur = ctx.store.live(ctx.meta.rootId);
  for (const name of segments(p)) {
    const key = foldName(name);
    const next = ctx.store.liveChildren(cur.id).find((c) => foldName(c.name) === key);
    if (next === undefined) return undefined;
    cur = next;
  }
  return cur;
}

function mustResolve(ctx: ServerContext, p: string): StoredItem {
  const it = resolve(ctx, p);
  if (it === undefined) throw new InvalidInputError(`no such path: ${p}`);
  return it;
}

function parentAndName(ctx: ServerContext, p: string): { parentId: string; name: string } {
  const segs = segments(p);
  const name = segs.pop();
  if (name === undefined) throw new InvalidInputError('path must name an item');
  return { parentId: mustResolve(ctx, segs.join('/')).id, name };
}

/** Applies one change and notifies every subscription; returns the item afterwards (undefined after delete). */
export async function applyAdminChange(ctx: ServerContext, c: AdminChange): Promise<StoredItem | undefined> {
  const actor = { user: c.user ?? 'spfs-admin' };
  const bytes = (): Buffer =>
    c.contentBase64 !== undefined
      ? Buffer.from(c.contentBase64, 'base64')
      : Buffer.from(c.content ?? '', 'utf8');
  const staged = async (): Promise<Awaited<ReturnType<typeof stageStream>>> =>
    stageStream(ctx.store, Readable.from([bytes()]), MAX_ADMIN_CONTENT_BYTES);
  let out: StoredItem | undefined;
  switch (c.op) {
    case 'create-file':
      out = createDocument(ctx, actor, { ...parentAndName(ctx, c.path), content: await staged() });
      break;
    case 'edit-file':
      out = updateContent(ctx, actor, {
        id: mustResolve(ctx, c.path).id,
        etag: undefined,
        content: await staged(),
      });
      break;
    case 'create-folder':
      out = createFolder(ctx, actor, parentAndName(ctx, c.path));
      break;
    case 'rename':
      if (!c.to) throw new InvalidInputError('rename needs "to" (the new name)');
      out = moveItem(ctx, actor, { id: mustResolve(ctx, c.path).id, etag: undefined, name: c.to });
      break;
    case 'move':
      if (c.to === undefined) throw new InvalidInputError('move needs "to" (the destination folder path)');
      out = moveItem(ctx, actor, {
        id: mustResolve(ctx, c.path).id,
        etag: undefined,
        parentId: mustResolve(ctx, c.to).id,
      });
      break;
    case 'delete':
      deleteItem(ctx, actor, { id: mustResolve(ctx, c.path).id, etag: undefined });
      break;
    default:
      throw new InvalidInputError(`unknown op ${String((c as { op: unknown }).op)}`);
  }
  ctx.notifyChange();
  return out;
}
