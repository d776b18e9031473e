// Codec for E8 writes (digest §3.5): the `<Items>` request XML for every kind of write, and the per-item results of
// the response (current server item + `<WriteStatus>`), matched to the request in order.
import { ProtocolError } from '../errors';
import type { ItemKind, RemoteItem, WriteOp, WriteResult, WriteStatus } from '../types';
import { decodeItem, parseId } from './item';
import { optionalText, repeated } from './node';
import { parseXmlDocument } from './parser';

/** A write op with its upload already resolved: size/hash known, bytes inline (a MIME part) or in a BITS session. */
export type EncodableOp = WriteOp & {
  upload?: { size: number; hash: string; mimeType: string; fragmentSessionId: string };
};

const WRITE_STATUSES: readonly WriteStatus[] = [
  'Success',
  'Conflict',
  'NameConflict',
  'NotFound',
  'AccessDenied',
  'Locked',
  'QuotaExceeded',
  'InvalidName',
  'Failure',
];

export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

/** `yyyy-MM-ddTHH:mm:ss.fffffffZ` (digest §3). */
export function wireTimestamp(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

function el(name: string, value: string): string {
  return `<${name}>${escapeXml(value)}</${name}>`;
}

export function elementFor(op: WriteOp): 'Folder' | 'Document' {
  const kind: ItemKind =
    op.op === 'createFolder'
      ? 'folder'
      : op.op === 'createFile' || op.op === 'updateFile'
        ? 'document'
        : op.item.kind;
  return kind === 'folder' ? 'Folder' : 'Document';
}

function streams(upload: NonNullable<EncodableOp['upload']>): string {
  return (
    '<DocumentStreams><DocumentStream>' +
    el('DocumentStreamName', 'Default') +
    el('MimeType', upload.mimeType) +
    el('XORHash', upload.hash) +
    el('FragmentSessionId', upload.fragmentSessionId) +
    el('DataSize', String(upload.size)) +
    '</DocumentStream></DocumentStreams>'
  );
}

function encodeOne(op: EncodableOp): string {
  const parts: string[] = [];
  switch (op.op) {
    case 'createFile':
    case 'createFolder': {
      parts.push(
        el('ParentResourceID', op.parentId),
        el('WriteMode', 'Create'),
        el('RelationshipName', op.name),
      );
      if (op.created) parts.push(el('DateCreatedOnClient', wireTimestamp(op.created)));
      if (op.modified) parts.push(el('DateModifiedOnClient', wireTimestamp(op.modified)));
      break;
    }
    case 'updateFile':
      parts.push(el('ResourceID', op.item.id), el('WriteMode', 'Update'), el('ETag', op.item.etag));
      if (op.modified) parts.push(el('DateModifiedOnClient', wireTimestamp(op.modified)));
      break;
    case 'move':
      parts.push(el('ResourceID', op.item.id), el('WriteMode', 'Update'), el('ETag', op.item.etag));
      if (op.parentId !== undefined) parts.push(el('ParentResourceID', op.parentId));
      if (op.name !== undefined) parts.push(el('RelationshipName', op.name));
      break;
    case 'delete':
      parts.push(el('ResourceID', op.item.id), el('WriteMode', 'Delete'), el('ETag', op.item.etag));
      break;
    case 'touch':
      parts.push(
        el('ResourceID', op.item.id),
        el('WriteMode', 'Update'),
        el('ETag', op.item.etag),
        el('DateModifiedOnClient', wireTimestamp(op.modified)),
      );
      break;
  }
  if (op.upload) parts.push(streams(op.upload));
  const tag = elementFor(op);
  return `<${tag}>${parts.join('')}</${tag}>`;
}

export function encodeWriteItems(ops: readonly EncodableOp[]): string {
  return `<?xml version="1.0" encoding="utf-8"?><Items>${ops.map(encodeOne).join('')}</Items>`;
}

function canonicalStatus(raw: string | undefined): WriteStatus | undefined {
  const v = (raw ?? '').trim().toLowerCase();
  return WRITE_STATUSES.find((s) => s.toLowerCase() === v);
}

/** The item in a result element, or undefined when the server sent too little to describe one. */
function tryItem(
  node: Parameters<typeof decodeItem>[0],
  kind: ItemKind,
  where: string,
): RemoteItem | undefined {
  try {
    return decodeItem(node, kind, where);
  } catch (err) {
    if (err instanceof ProtocolError) return undefined;
    throw err;
  }
}

/**
 * Decodes an E8 response into one result per op, in order. Folder and Document results are matched to the ops of
 * the same element in order (the response lists items in request order). An unknown WriteStatus is `Failure`.
 */
export function decodeWriteResponse(body: string, ops: readonly WriteOp[]): WriteResult[] {
  const node = parseXmlDocument(body, 'Items', 'write response');
  const byTag = {
    Folder: repeated(node, 'Folder', 'write response'),
    Document: repeated(node, 'Document', 'write response'),
  };
  const cursor = { Folder: 0, Document: 0 };
  return ops.map((op, i) => {
    const tag = elementFor(op);
    const where = `write response item ${i + 1}`;
    const res = byTag[tag][cursor[tag]++];
    if (res === undefined)
      throw new ProtocolError(`${where}: missing <${tag}> (${byTag[tag].length} returned)`);
    const kind: ItemKind = tag === 'Folder' ? 'folder' : 'document';
    const rawStatus = optionalText(res, 'WriteStatus', where);
    const status = canonicalStatus(rawStatus) ?? 'Failure';
    const item = tryItem(res, kind, where);
    if (status !== 'Success') {
      const message = optionalText(res, 'ErrorMessage', where)?.trim().slice(0, 200);
      const out: WriteResult = { status, current: item };
      if (status !== 'Conflict' && status !== 'NameConflict') {
        if (rawStatus !== undefined && canonicalStatus(rawStatus) === undefined) {
          return {
            status,
            current: item,
            message: `unknown WriteStatus ${JSON.stringify(rawStatus.slice(0, 40))}`,
          };
        }
        if (message) return { status, current: item, message };
      }
      return out;
    }
    if (op.op === 'delete') {
      const rawId = optionalText(res, 'ResourceID', where);
      const id = rawId === undefined ? op.item.id : parseId(rawId, 'ResourceID', where);
      const gone: RemoteItem = item ?? {
        kind,
        id,
        parentId: id,
        name: '',
        path: '',
        etag: op.item.etag,
        created: new Date(0),
        modified: new Date(0),
        size: 0,
        deleted: true,
      };
      return { status, item: { ...gone, deleted: true }, rewrittenByServer: false };
    }
    if (item === undefined) throw new ProtocolError(`${where}: WriteStatus Success without a complete item`);
    const up = (op as EncodableOp).upload;
    const rewritten =
      up !== undefined && (item.size !== up.size || (item.hash !== undefined && item.hash !== up.hash));
    return { status, item, rewrittenByServer: rewritten };
  });
}
