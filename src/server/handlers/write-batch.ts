// E8: `POST SFS/RootFolder` with `multipart/related` (`<LiveFolders>` XML part + binary parts) or a lone XML body.
// Items run in request order, each answered with the server's item and a WriteStatus (digest §3.5); HTTP 200 whenever
// the request parsed. Binary parts are streamed to temp files and verified against DataSize/XORHash before use.
import type { Exchange, ServerContext } from '../context';
import { type StagedContent, discardStaged, stageStream, verifyDeclared } from '../content-staging';
import { requireDigest } from '../form-digest';
import { XML_CONTENT_TYPE, sendBody } from '../http-util';
import { PathResolver, XML_DECLARATION, escapeXml, renderItem } from '../item-xml';
import { MultipartReader, multipartBoundary } from '../multipart-reader';
import { currentQuota, quotaHeaders } from '../quota';
import { HttpError } from '../server-errors';
import type { StoredItem } from '../store';
import { type WriteStatus, WriteRefusedError } from '../write-errors';
import * as ops from '../write-ops';
import {
  MAX_WRITE_XML_BYTES,
  type WriteItemRequest,
  fragmentKey,
  parseWriteRequest,
} from '../write-request-xml';
import { finishSession, sessionContent } from './bits';

/** Characters XML 1.0 can't carry even escaped: echoed names get U+FFFD instead. */
// eslint-disable-next-line no-control-regex
const XML_FORBIDDEN_CHARS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;

interface Outcome {
  status: WriteStatus;
  item?: StoredItem;
}

export async function writeBatch(ctx: ServerContext, ex: Exchange): Promise<void> {
  if (!(await requireDigest(ctx, ex))) return;
  const staged = new Map<string, StagedContent>();
  try {
    const xml = await readRequest(ctx, ex, staged);
    const requests = parseWriteRequest(xml);
    const actor: ops.Actor = { user: ex.user };
    const identity = headerText(ex, 'x-customidentity');
    if (identity !== undefined) actor.identity = identity.slice(0, 256);
    const outcomes: Outcome[] = [];
    const forceConflict = ex.forceETagConflict === true; // fault injection: every ETag check fails
    for (const r of requests) outcomes.push(await runOne(ctx, actor, r, staged, forceConflict));
    if (outcomes.some((o) => o.status === 'Success')) {
      ctx.notifyChange(headerText(ex, 'x-subscriptionidtonotnotify'));
    }
    const paths = new PathResolver(ctx.store);
    const body = requests.map((r, i) => renderOutcome(ctx, ex, paths, r, outcomes[i] as Outcome)).join('');
    const headers = quotaHeaders(currentQuota(ctx));
    await sendBody(
      ex.req,
      ex.res,
      ex.stats,
      200,
      XML_CONTENT_TYPE,
      `${XML_DECLARATION}<Items>${body}</Items>`,
      headers,
    );
  } catch (err) {
    // An error answered before the body was read: the rest of it must not be taken for the next request.
    if (!ex.req.complete && !ex.res.headersSent) ex.res.setHeader('Connection', 'close');
    throw err;
  } finally {
    for (const s of staged.values()) discardStaged(s);
  }
}

function headerText(ex: Exchange, name: string): string | undefined {
  const v = ex.req.headers[name];
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** The XML part; binary parts are staged into `staged` by their Content-ID's fragment key. */
async function readRequest(
  ctx: ServerContext,
  ex: Exchange,
  staged: Map<string, StagedContent>,
): Promise<string> {
  const type = ex.req.headers['content-type'];
  const boundary = multipartBoundary(type);
  if (boundary === undefined) {
    if (!/xml/i.test(type ?? '')) throw new HttpError(400, 'expected multipart/related or an XML body');
    return collect(ex.req);
  }
  let xml: string | undefined;
  for await (const part of new MultipartReader(ex.req, boundary).parts()) {
    const cid = (part.headers.get('content-id') ?? '').trim();
    const isXml =
      /^<?\s*LiveFolders\s*>?$/i.test(cid) ||
      (xml === undefined && /xml/i.test(part.headers.get('content-type') ?? ''));
    if (isXml) {
      if (xml !== undefined) throw new HttpError(400, 'more than one XML part');
      xml = await collect(part.body);
      continue;
    }
    const key = contentIdKey(cid);
    if (key === '' || staged.has(key)) throw new HttpError(400, 'binary part without a unique Content-ID');
    staged.set(key, await stageStream(ctx.store, part.body, ctx.maxFileSizeBytes));
  }
  if (xml === undefined) throw new HttpError(400, 'no <LiveFolders> XML part');
  return xml;
}

/** `<"2c8d…":Default>` (digest §3.5), also without quotes or the stream suffix → fragment key. */
function contentIdKey(cid: string): string {
  const inner = cid.replace(/^<|>$/g, '').trim();
  const m = /^"([^"]*)"/.exec(inner);
  return fragmentKey(m ? (m[1] ?? '') : inner.replace(/:[A-Za-z]+$/, ''));
}

async function collect(source: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of source) {
    n += c.length;
    if (n > MAX_WRITE_XML_BYTES) throw new HttpError(413, 'XML part too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function runOne(
  ctx: ServerContext,
  actor: ops.Actor,
  r: WriteItemRequest,
  staged: Map<string, StagedContent>,
  forceConflict = false,
): Promise<Outcome> {
  try {
    if (r.problem !== undefined) throw new WriteRefusedError('Failure', r.problem);
    const mode = r.mode.toLowerCase();
    const target = r.resourceId !== undefined ? ctx.store.get(r.resourceId) : undefined;
    const live = target && !target.deleted ? target : undefined;
    const times = {
      ...(r.createdMs !== undefined ? { createdMs: r.createdMs } : {}),
      ...(r.modifiedMs !== undefined ? { modifiedMs: r.modifiedMs } : {}),
    };
    const place = {
      ...(r.name !== undefined ? { name: r.name } : {}),
      ...(r.parentId !== undefined ? { parentId: r.parentId } : {}),
    };
    if (mode === 'create' || (mode === 'createorupdate' && !live)) {
      if (r.parentId === undefined)
        throw new WriteRefusedError('NotFound', 'Create needs a ParentResourceID');
      if (r.name === undefined) throw new WriteRefusedError('InvalidName', 'Create needs a RelationshipName');
      if (r.kind === 'folder') {
        return ok(ops.createFolder(ctx, actor, { parentId: r.parentId, name: r.name, ...times }));
      }
      const { content, sessionId } = await contentFor(ctx, actor, r, staged);
      const mime = r.stream?.mime;
      const created = ops.createDocument(ctx, actor, {
        parentId: r.parentId,
        name: r.name,
        content,
        ...(mime !== undefined ? { mime } : {}),
        ...times,
      });
      if (sessionId !== undefined) finishSession(ctx, sessionId);
      return ok(created);
    }
    if (mode !== 'update' && mode !== 'delete' && mode !== 'createorupdate') {
      throw new WriteRefusedError('Failure', `unknown WriteMode ${JSON.stringify(r.mode.slice(0, 40))}`);
    }
    if (r.resourceId === undefined || !live) throw new WriteRefusedError('NotFound', 'no such item');
    if (r.etag === undefined || forceConflict)
      throw new WriteRefusedError('Conflict', 'an ETag is required', live);
    if (mode === 'delete') {
      ops.deleteItem(ctx, actor, { id: live.id, etag: r.etag });
      return ok(ctx.store.get(live.id) as StoredItem);
    }
    if (r.stream?.fragmentSessionId !== undefined) {
      if (live.kind !== 'document') throw new WriteRefusedError('Failure', 'a folder has no content');
      // Check the ETag before touching the content, so a stale update leaves a BITS session usable.
      if (!ops.etagMatches(live, r.etag)) throw new WriteRefusedError('Conflict', 'stale ETag', live);
      const { content, sessionId } = await contentFor(ctx, actor, r, staged);
      const updated = ops.updateContent(ctx, actor, {
        id: live.id,
        etag: r.etag,
        content,
        ...place,
        ...times,
      });
      if (sessionId !== undefined) finishSession(ctx, sessionId);
      return ok(updated);
    }
    return ok(ops.updateMetadata(ctx, actor, { id: live.id, etag: r.etag, ...place, ...times }));
  } catch (err) {
    if (err instanceof WriteRefusedError) {
      return err.current ? { status: err.status, item: err.current } : { status: err.status };
    }
    throw err;
  }
}

function ok(item: StoredItem): Outcome {
  return { status: 'Success', item };
}

/** The content an item names: an inline part or a finished BITS session; verified against what was declared. */
async function contentFor(
  ctx: ServerContext,
  actor: ops.Actor,
  r: WriteItemRequest,
  staged: Map<string, StagedContent>,
): Promise<{ content: StagedContent; sessionId?: string }> {
  const key = r.stream?.fragmentSessionId;
  if (key === undefined) throw new WriteRefusedError('Failure', 'no DocumentStream with a FragmentSessionId');
  const inline = staged.get(key);
  if (inline) staged.delete(key);
  const fromSession = inline ? undefined : await sessionContent(ctx, actor.user, key);
  const content = inline ?? fromSession?.content;
  if (content === undefined)
    throw new WriteRefusedError('Failure', 'no binary part or upload session for the item');
  try {
    verifyDeclared(content, {
      ...(r.stream?.dataSize !== undefined ? { size: r.stream.dataSize } : {}),
      ...(r.stream?.hash !== undefined ? { hash: r.stream.hash } : {}),
    });
  } catch (err) {
    discardStaged(content);
    throw err;
  }
  return fromSession ? fromSession : { content };
}

function renderOutcome(
  ctx: ServerContext,
  ex: Exchange,
  paths: PathResolver,
  r: WriteItemRequest,
  o: Outcome,
): string {
  const status = `<WriteStatus>${o.status}</WriteStatus>`;
  if (o.item) {
    const xml = renderItem(o.item, ctx.meta.listId, ex.siteUrl, paths, { tail: status });
    // Tombstones take no options: put the status before their closing tag.
    return o.item.deleted ? xml.replace(/<\/(Folder|Document)>$/, `${status}</$1>`) : xml;
  }
  const current = r.resourceId !== undefined ? ctx.store.get(r.resourceId) : undefined;
  if (current && !current.deleted)
    return renderItem(current, ctx.meta.listId, ex.siteUrl, paths, { tail: status });
  const tag = r.kind === 'folder' ? 'Folder' : 'Document';
  const el = (n: string, v: string | undefined): string =>
    v === undefined ? '' : `<${n}>${escapeXml(v.replace(XML_FORBIDDEN_CHARS, '\ufffd'))}</${n}>`;
  return (
    `<${tag}>${el('ItemType', tag)}${el('ResourceID', r.resourceId)}${el('RelationshipName', r.name)}` +
    `${el('ParentResourceID', r.parentId)}${status}</${tag}>`
  );
}
