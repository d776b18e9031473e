// Parser of the E8 `<Items>` request part (digest §3.5): items in request order (preserveOrder), each reduced to a
// WriteItemRequest. Hostile XML (DTD/entities, deep nesting, huge element counts, oversized) is a 400/413 HttpError
// before or instead of parsing; a malformed item becomes a per-item problem so the rest of the batch still runs.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { normaliseGuid } from '../shared/ids';
import { HttpError } from './server-errors';

/** Largest `<Items>` part accepted. */
export const MAX_WRITE_XML_BYTES = 4 * 1024 * 1024;
/** Most items in one batch. */
export const MAX_BATCH_ITEMS = 1000;
/** Most elements in one request document (≈ 60 per item). */
const MAX_ELEMENTS = 100_000;
/** Deepest nesting: Items/Document/DocumentStreams/DocumentStream/X is 5; leave room for unknown extensions. */
const MAX_DEPTH = 32;
const DTD_PATTERN = /<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)/i;

export interface WriteStreamRequest {
  /** Normalised (32 hex) when a GUID, otherwise trimmed lower case. */
  fragmentSessionId?: string;
  dataSize?: number;
  hash?: string;
  mime?: string;
}

export interface WriteItemRequest {
  kind: 'folder' | 'document';
  /** As sent (`Create`, `Update`, `Delete`, `CreateOrUpdate`); validated by the batch handler. */
  mode: string;
  resourceId?: string;
  etag?: string;
  parentId?: string;
  name?: string;
  createdMs?: number;
  modifiedMs?: number;
  stream?: WriteStreamRequest;
  /** Set when the item itself is unusable (bad id, bad timestamp...): answered `Failure` without a change. */
  problem?: string;
}

type Ordered = Record<string, unknown>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_DEPTH,
});

/** Fragment ids come as GUIDs (any spelling) or opaque strings; both sides compare this key. */
export function fragmentKey(raw: string): string {
  return normaliseGuid(raw.trim()) ?? raw.trim().toLowerCase();
}

export function parseWriteRequest(xml: string): WriteItemRequest[] {
  if (Buffer.byteLength(xml, 'utf8') > MAX_WRITE_XML_BYTES) throw new HttpError(413, 'request XML too large');
  if (DTD_PATTERN.test(xml)) throw new HttpError(400, 'DOCTYPE/ENTITY declarations are refused');
  let elements = 0;
  for (let i = xml.indexOf('<'); i >= 0; i = xml.indexOf('<', i + 1)) {
    if (++elements > MAX_ELEMENTS) throw new HttpError(413, 'too many XML elements');
  }
  // The parser silently drops references to characters XML forbids (`&#0;`, `&#x1;`): a name would change.
  for (const m of xml.matchAll(/&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});/g)) {
    const ref = m[1] ?? '';
    if (!xmlChar(ref.startsWith('x') ? parseInt(ref.slice(1), 16) : Number(ref))) {
      throw new HttpError(400, 'character reference to a character XML 1.0 does not allow');
    }
  }
  const text = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml;
  if (XMLValidator.validate(text) !== true) throw new HttpError(400, 'malformed XML');
  let doc: unknown;
  try {
    doc = parser.parse(text);
  } catch {
    throw new HttpError(400, 'unparsable XML (too deep?)');
  }
  const roots = elementsOf(doc);
  const items = roots.length === 1 && roots[0]?.[0] === 'Items' ? elementsOf(roots[0][1]) : undefined;
  if (items === undefined) throw new HttpError(400, 'expected one <Items> root element');
  if (items.length > MAX_BATCH_ITEMS) throw new HttpError(413, `more than ${MAX_BATCH_ITEMS} items`);
  return items.map(([name, children]) => decodeItem(name, children));
}

/** XML 1.0 `Char`: tab, LF, CR, and everything from space up except surrogates and U+FFFE/U+FFFF. */
function xmlChar(c: number): boolean {
  return (
    c === 0x9 ||
    c === 0xa ||
    c === 0xd ||
    (c >= 0x20 && c <= 0xd7ff) ||
    (c >= 0xe000 && c <= 0xfffd) ||
    (c >= 0x10000 && c <= 0x10ffff)
  );
}

/** The element children of a preserveOrder node list as [name, children] pairs (text nodes skipped). */
function elementsOf(list: unknown): [string, unknown][] {
  if (!Array.isArray(list)) return [];
  const out: [string, unknown][] = [];
  for (const entry of list as Ordered[]) {
    for (const [k, v] of Object.entries(entry)) if (k !== '#text' && k !== ':@') out.push([k, v]);
  }
  return out;
}

function textOf(children: unknown): string {
  if (!Array.isArray(children)) return '';
  return (children as Ordered[]).map((c) => (typeof c['#text'] === 'string' ? c['#text'] : '')).join('');
}

/** Child name → text, first occurrence wins; nested containers are reached by name. */
function fields(children: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  for (const [k, v] of elementsOf(children)) if (!m.has(k)) m.set(k, v);
  return m;
}

function decodeItem(name: string, children: unknown): WriteItemRequest {
  const kind = name === 'Folder' ? 'folder' : 'document';
  const f = fields(children);
  const text = (n: string): string | undefined => (f.has(n) ? textOf(f.get(n)) : undefined);
  const out: WriteItemRequest = { kind, mode: (text('WriteMode') ?? '').trim() };
  const problems: string[] = [];
  if (name !== 'Folder' && name !== 'Document') problems.push(`unknown item element <${name.slice(0, 40)}>`);
  const id = (n: string): string | undefined => {
    const raw = text(n);
    if (raw === undefined || raw.trim() === '') return undefined;
    const hex = normaliseGuid(raw.trim());
    if (hex === undefined) problems.push(`<${n}> is not a GUID`);
    return hex;
  };
  const time = (n: string): number | undefined => {
    const raw = text(n)?.trim();
    if (raw === undefined || raw === '') return undefined;
    const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(raw)
      ? Date.parse(raw.replace(/(\.\d{3})\d+Z$/, '$1Z'))
      : NaN;
    if (Number.isNaN(ms)) problems.push(`<${n}> is not a UTC timestamp`);
    return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000) * 1000;
  };
  const resourceId = id('ResourceID');
  const parentId = id('ParentResourceID');
  const etag = text('ETag');
  const nameText = text('RelationshipName');
  const createdMs = time('DateCreatedOnClient');
  const modifiedMs = time('DateModifiedOnClient');
  if (resourceId !== undefined) out.resourceId = resourceId;
  if (parentId !== undefined) out.parentId = parentId;
  if (etag !== undefined && etag.trim() !== '') out.etag = etag.trim();
  if (nameText !== undefined) out.name = nameText;
  if (createdMs !== undefined) out.createdMs = createdMs;
  if (modifiedMs !== undefined) out.modifiedMs = modifiedMs;
  const streams = elementsOf(f.get('DocumentStreams')).filter(([n]) => n === 'DocumentStream');
  if (streams.length > 1) problems.push('more than one DocumentStream');
  const first = streams[0];
  if (first) {
    const s = fields(first[1]);
    const st = (n: string): string | undefined => (s.has(n) ? textOf(s.get(n)).trim() : undefined);
    const stream: WriteStreamRequest = {};
    const frag = st('FragmentSessionId');
    if (frag !== undefined && frag !== '') stream.fragmentSessionId = fragmentKey(frag);
    const size = st('DataSize');
    if (size !== undefined) {
      if (/^\d{1,15}$/.test(size)) stream.dataSize = Number(size);
      else problems.push('<DataSize> is not a non-negative integer');
    }
    const hash = st('XORHash');
    if (hash !== undefined && hash !== '') stream.hash = hash;
    const mime = st('MimeType');
    if (mime !== undefined && /^[\w.+-]{1,64}\/[\w.+-]{1,128}$/.test(mime)) stream.mime = mime;
    out.stream = stream;
  }
  if (problems.length > 0) out.problem = problems.join('; ');
  return out;
}
