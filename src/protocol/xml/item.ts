// Codec for one `<Folder>`/`<Document>` element (digest §3.1) → RemoteItem, tombstones included, and the flattening of
// nested `<Items>` trees. Names are kept raw: filtering unsafe names is the layer above's decision.
import { asETag, asItemId, type ItemId } from '../../shared/ids';
import { ProtocolError } from '../errors';
import type { ItemKind, Quota, RemoteItem } from '../types';
import type { XmlNode } from './parser';
import {
  optionalChild,
  optionalText,
  parseBool,
  parseCount,
  parseTimestamp,
  repeated,
  requiredText,
} from './node';

const ELEMENT_OF: Record<ItemKind, string> = { folder: 'Folder', document: 'Document' };
/** Stream names that carry the file content: `Binary` in responses, `Default` in uploads (synonyms). */
const CONTENT_STREAMS = new Set(['binary', 'default']);

export function parseId(raw: string, name: string, where: string): ItemId {
  try {
    return asItemId(raw.trim());
  } catch (err) {
    throw new ProtocolError(`${where}: <${name}> is not a 32-hex id: ${JSON.stringify(raw.slice(0, 64))}`, {
      cause: err,
    });
  }
}

/** Decodes one item element. `where` locates it in error messages (e.g. "change page"). */
export function decodeItem(node: XmlNode, kind: ItemKind, where: string): RemoteItem {
  const element = ELEMENT_OF[kind];
  const rawId = requiredText(node, 'ResourceID', `${where} <${element}>`);
  const id = parseId(rawId, 'ResourceID', `${where} <${element}>`);
  const at = `${where} <${element}> ${id}`;
  const parentId = parseId(requiredText(node, 'ParentResourceID', at), 'ParentResourceID', at);
  const deleted = parseBool(optionalText(node, 'IsDeleted', at));

  if (deleted) {
    // A tombstone carries only ItemType, ResourceID, ParentResourceID, IsDeleted and ChangeTime (digest G3).
    const when = optionalText(node, 'ChangeTime', at) ?? optionalText(node, 'DateModified', at);
    const time = when === undefined ? new Date(0) : parseTimestamp(when, 'ChangeTime', at);
    return {
      kind,
      id,
      parentId,
      name: optionalText(node, 'RelationshipName', at) ?? '',
      path: optionalText(node, 'Path', at) ?? '',
      etag: asETag(optionalText(node, 'ETag', at) ?? ''),
      created: time,
      modified: time,
      size: 0,
      deleted: true,
    };
  }

  const item: RemoteItem = {
    kind,
    id,
    parentId,
    name: requiredText(node, 'RelationshipName', at),
    path: optionalText(node, 'Path', at) ?? '',
    etag: asETag(requiredText(node, 'ETag', at).trim()),
    created: parseTimestamp(requiredText(node, 'DateCreated', at), 'DateCreated', at),
    modified: parseTimestamp(requiredText(node, 'DateModified', at), 'DateModified', at),
    size: 0,
    deleted: false,
  };
  if (kind === 'document') decodeContentStream(node, item, at);
  const modifier = optionalChild(node, 'ModifierIdentity', at);
  const custom = modifier ? optionalChild(modifier, 'CustomIdentity', at) : undefined;
  const who = custom ? optionalText(custom, 'Value', at)?.trim() : undefined;
  if (who) item.modifierIdentity = who.replace(/^SkyDriveSync=/i, '').toLowerCase();
  return item;
}

function decodeContentStream(node: XmlNode, item: RemoteItem, at: string): void {
  const container = optionalChild(node, 'DocumentStreams', at);
  const streams = container ? repeated(container, 'DocumentStream', at) : [];
  const stream =
    streams.find((s) =>
      CONTENT_STREAMS.has((optionalText(s, 'DocumentStreamName', at) ?? '').trim().toLowerCase()),
    ) ?? (streams.length === 1 ? streams[0] : undefined);
  if (!stream) throw new ProtocolError(`${at}: missing required element <DocumentStream> (Binary)`);
  const sat = `${at} <DocumentStream>`;
  item.size = parseCount(requiredText(stream, 'DataSize', sat), 'DataSize', sat);
  const hash = optionalText(stream, 'XORHash', sat)?.trim();
  if (hash) item.hash = hash;
  const url = optionalText(stream, 'PreAuthURL', sat)?.trim();
  if (url) item.downloadUrl = url;
  const mime = optionalText(stream, 'MimeType', sat)?.trim();
  if (mime) item.mimeType = mime;
}

/** An item element of a page that could not be decoded: left out, reported by the caller. */
export interface RejectedItem {
  /** Its ResourceID when that much was readable. */
  id: string | undefined;
  reason: string;
}

/**
 * The items under `node`'s `<Items>`, depth-first pre-order: each folder is followed by its own nested subtree, so a
 * parent always precedes its children. Within one `<Items>`, folders come before documents (the parser groups
 * elements by name; relative order between a Folder and a Document sibling is not kept). With `rejected`, an item
 * that does not decode (a DataSize of 2^63, a bad date) is put there instead of failing the page, so one lying item
 * does not hold back the rest; what hangs under a rejected folder comes out still (the layer above finds its parent
 * unknown). Without it, the first bad item throws.
 */
export function flattenItems(
  node: XmlNode,
  where: string,
  out: RemoteItem[] = [],
  rejected?: RejectedItem[],
): RemoteItem[] {
  const items = optionalChild(node, 'Items', where);
  if (!items) return out;
  const decode = (n: XmlNode, kind: ItemKind): void => {
    try {
      out.push(decodeItem(n, kind, where));
    } catch (err) {
      if (rejected === undefined || !(err instanceof ProtocolError)) throw err;
      const raw = typeof n.ResourceID === 'string' ? n.ResourceID.trim() : undefined;
      rejected.push({
        id: raw !== undefined && /^[0-9a-f]{32}$/i.test(raw) ? raw : undefined,
        reason: err.message,
      });
    }
  };
  for (const f of repeated(items, 'Folder', where)) {
    decode(f, 'folder');
    flattenItems(f, where, out, rejected);
  }
  for (const d of repeated(items, 'Document', where)) decode(d, 'document');
  return out;
}

/** Quota elements on a root folder; absent elements give state `Unknown` and 0 bytes. */
export function decodeQuota(node: XmlNode, where: string): Quota {
  const used = optionalText(node, 'SpaceUsed', where);
  const granted = optionalText(node, 'SpaceGranted', where);
  return {
    state: optionalText(node, 'QuotaState', where)?.trim() || 'Unknown',
    used: used === undefined ? 0 : parseCount(used, 'SpaceUsed', where),
    granted: granted === undefined ? 0 : parseCount(granted, 'SpaceGranted', where),
  };
}
