// The hostile-server corpus (product code for tests and demos, fault kind `hostile`): one function per case, each
// turning the response the real handler produced (or would have produced) into a malicious one. Listing cases
// rewrite an XML `<Folder>` page (E6 crawl, E7 change page); download cases rewrite E10 content. The items a case
// injects have fixed ResourceIDs derived from the case name (`hostileItemId`), so a test can look for them by id.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { escapeXml } from './item-xml';
import type { Store } from './store';

export const HOSTILE_CASES = [
  // listings (E6, E7): the XML itself
  'billion-laughs',
  'external-entity',
  'deep-nesting',
  'endless-xml',
  // listings: items that lie
  'huge-size',
  'endless-paging',
  'name-dotdot',
  'name-slash',
  'name-backslash',
  'name-nul',
  'name-long',
  'duplicate-id',
  'self-parent',
  'parent-cycle',
  // downloads (E10)
  'short-body',
  'long-body',
  'wrong-hash',
  'redirect',
  'endless-body',
] as const;
export type HostileCase = (typeof HOSTILE_CASES)[number];

/** What a case answers: a status, headers to set (or, with `undefined`, to remove) and a body. */
export interface HostileReply {
  status: number;
  headers: Record<string, string | undefined>;
  /** A whole body (Content-Length is set from it), or a stream sent chunked (no Content-Length). */
  body: Buffer | Readable;
}

/** The real handler's answer, captured before it left (for the rewriting cases). */
export interface RealResponse {
  status: number;
  body: Buffer;
}

export interface HostileEnv {
  store: Store;
  rootId: string;
  /** `redirect`: where to send the client. */
  location?: string;
  /** The SyncToken the request carried (E7), if any. */
  requestToken?: string;
}

/** Cases that answer without running the handler; the rest rewrite what it produced (keeping its headers). */
const ANSWERING: ReadonlySet<HostileCase> = new Set(['redirect', 'endless-body']);

export function answersWithoutHandler(c: HostileCase): boolean {
  return ANSWERING.has(c);
}

/** The fixed ResourceID of the `n`th item a case injects: 32 hex from the case name. */
export function hostileItemId(c: HostileCase, n = 0): string {
  return createHash('sha256').update(`spfs-hostile:${c}:${n}`).digest('hex').slice(0, 32);
}

const NOW = '2025-01-01T00:00:00.0000000Z';
const XML = 'Application/Web3s+xml';

function folderXml(id: string, parentId: string, name: string, inner = ''): string {
  return (
    `<Folder><ItemType>Folder</ItemType><ResourceID>${id}</ResourceID><ETag>${id}</ETag>` +
    `<DateCreated>${NOW}</DateCreated><DateModified>${NOW}</DateModified>` +
    `<RelationshipName>${name}</RelationshipName><ParentResourceID>${parentId}</ParentResourceID>${inner}</Folder>`
  );
}

function documentXml(id: string, parentId: string, name: string, size: string): string {
  return (
    `<Document><ItemType>Document</ItemType><ResourceID>${id}</ResourceID>` +
    `<ETag>"{${id.slice(0, 8)}-0000-0000-0000-000000000000},1"</ETag>` +
    `<DateCreated>${NOW}</DateCreated><DateModified>${NOW}</DateModified>` +
    `<RelationshipName>${name}</RelationshipName><ParentResourceID>${parentId}</ParentResourceID>` +
    `<DocumentStreams><DocumentStream><DocumentStreamName>Binary</DocumentStreamName><DataSize>${size}</DataSize>` +
    `<XORHash>AAAAAAAAAAAAAAAAAAAAAAAAAAA=</XORHash></DocumentStream></DocumentStreams></Document>`
  );
}

/** Puts `items` at the top of the page's top-level `<Items>` (adding one when the page has none). */
function injectItems(page: string, items: string): string {
  const at = page.indexOf('<Items>');
  if (at >= 0) return page.slice(0, at + 7) + items + page.slice(at + 7);
  const end = page.lastIndexOf('</Folder>');
  return page.slice(0, end) + `<Items>${items}</Items>` + page.slice(end);
}

const xmlReply = (body: string, headers: Record<string, string | undefined> = {}): HostileReply => ({
  status: 200,
  headers: { 'Content-Type': XML, 'Content-Encoding': undefined, ...headers },
  body: Buffer.from(body, 'utf8'),
});

/** A page of the real response with `items` injected (the real items and token stay: the rest must still apply). */
const withItems = (real: RealResponse, items: string): HostileReply =>
  xmlReply(injectItems(real.body.toString('utf8'), items));

/** Billion laughs: ten levels of ten-fold entity references (a 3 GB expansion of a 1 KiB body). */
function billionLaughs(): HostileReply {
  const levels = ['<!ENTITY lol0 "lol">'];
  for (let i = 1; i <= 9; i++) levels.push(`<!ENTITY lol${i} "${`&lol${i - 1};`.repeat(10)}">`);
  return xmlReply(
    `<?xml version="1.0"?><!DOCTYPE Folder [${levels.join('')}]><Folder><ResourceID>&lol9;</ResourceID></Folder>`,
  );
}

/** An external entity naming a local file: a parser that resolved it would read (and maybe store) /etc/passwd. */
function externalEntity(): HostileReply {
  return xmlReply(
    `<?xml version="1.0"?><!DOCTYPE Folder [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
      `<Folder><RelationshipName>&xxe;</RelationshipName></Folder>`,
  );
}

/** 100,000 nested folders: a recursive decoder without a depth bound overflows its stack. */
function deepNesting(_real: RealResponse, env: HostileEnv): HostileReply {
  const depth = 100_000;
  const open = `<Folder><ResourceID>${env.rootId}</ResourceID>` + '<Items><Folder>'.repeat(depth);
  return xmlReply(open + '</Folder></Items>'.repeat(depth) + '</Folder>');
}

/** An endless stream of `bytes` (or of XML comment filler when `xml`): the client must cut it at its bound. */
function endless(prefix: string, filler: Buffer): Readable {
  let first = true;
  return new Readable({
    read() {
      if (first) {
        first = false;
        this.push(Buffer.from(prefix, 'utf8'));
      }
      this.push(filler);
    },
  });
}

/** A change page that never ends: chunked, a root folder and then comments forever. */
function endlessXml(_real: RealResponse, env: HostileEnv): HostileReply {
  const filler = Buffer.from(`<!--${'x'.repeat(64 * 1024 - 7)}-->`, 'utf8');
  return {
    status: 200,
    headers: { 'Content-Type': XML, 'Content-Encoding': undefined },
    body: endless(`<?xml version="1.0"?><Folder><ResourceID>${env.rootId}</ResourceID>`, filler),
  };
}

/** A document whose DataSize is 2^63 (beyond any integer a double holds exactly, beyond any disk). */
function hugeSize(real: RealResponse, env: HostileEnv): HostileReply {
  return withItems(
    real,
    documentXml(hostileItemId('huge-size'), env.rootId, 'huge-size.bin', '9223372036854775808'),
  );
}

/**
 * A page that claims more (X-HasMoreData: True) on every request without moving on: a folder of 10^9 children, or
 * a change log without end. A change page hands back the token it was asked with, so a client that trusts it asks
 * for the same page again, forever.
 */
function endlessPaging(real: RealResponse, env: HostileEnv): HostileReply {
  return {
    ...xmlReply(real.body.toString('utf8')),
    headers: {
      'X-HasMoreData': 'True',
      ...(env.requestToken !== undefined ? { 'X-SyncToken': env.requestToken } : {}),
    },
  };
}

const named =
  (c: HostileCase, name: string) =>
  (real: RealResponse, env: HostileEnv): HostileReply =>
    withItems(real, folderXml(hostileItemId(c), env.rootId, name));

/** The same ResourceID twice: as a folder with a child, then as a document elsewhere. */
function duplicateId(real: RealResponse, env: HostileEnv): HostileReply {
  const id = hostileItemId('duplicate-id');
  const child = documentXml(hostileItemId('duplicate-id', 1), id, 'dup-child.txt', '1');
  return withItems(
    real,
    folderXml(id, env.rootId, 'dup-folder', `<Items>${child}</Items>`) +
      folderXml(hostileItemId('duplicate-id', 2), env.rootId, 'dup-holder') +
      documentXml(id, hostileItemId('duplicate-id', 2), 'dup-doc.txt', '1'),
  );
}

/** A folder that is its own parent. */
function selfParent(real: RealResponse): HostileReply {
  const id = hostileItemId('self-parent');
  return withItems(real, folderXml(id, id, 'self-parent'));
}

/**
 * A cycle of two: a new folder N inside the library's first top-level folder F, then F moved into N. Applied as
 * is, F and N would hang off each other with no way back to the root.
 */
function parentCycle(real: RealResponse, env: HostileEnv): HostileReply {
  const f = env.store.liveChildren(env.rootId).find((it) => it.kind === 'folder');
  if (f === undefined) throw new Error('hostile parent-cycle needs a folder under the library root');
  const n = hostileItemId('parent-cycle');
  return withItems(real, folderXml(n, f.id, 'cycle-inner') + folderXml(f.id, n, escapeXml(f.name)));
}

/** A 200 that sends half of the bytes asked for as the whole file: shorter than DataSize. */
function shortBody(real: RealResponse): HostileReply {
  return {
    status: 200,
    headers: { 'Content-Range': undefined },
    body: real.body.subarray(0, Math.floor(real.body.length / 2)),
  };
}

/** A 200 with the bytes asked for and 4 KiB more: longer than DataSize. */
function longBody(real: RealResponse): HostileReply {
  return {
    status: 200,
    headers: { 'Content-Range': undefined },
    body: Buffer.concat([real.body, Buffer.alloc(4096, 0x41)]),
  };
}

/** The right length, every byte flipped: the QuickXorHash cannot match. */
function wrongHash(real: RealResponse): HostileReply {
  const body = Buffer.from(real.body);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ 0xff;
  return { status: real.status, headers: {}, body };
}

/** 302 to another origin (`location`, e.g. a listener on another port): credentials must not follow. */
function redirect(env: HostileEnv): HostileReply {
  return {
    status: 302,
    headers: { Location: env.location ?? 'http://127.0.0.2:9/stolen', 'Content-Range': undefined },
    body: Buffer.alloc(0),
  };
}

/** A chunked 200 that never ends (zeros, 64 KiB at a time). */
function endlessBody(): HostileReply {
  return {
    status: 200,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': undefined },
    body: endless('', Buffer.alloc(64 * 1024)),
  };
}

type Rewrite = (real: RealResponse, env: HostileEnv) => HostileReply;
type Answer = (env: HostileEnv) => HostileReply;

const ANSWERS: Partial<Record<HostileCase, Answer>> = {
  redirect,
  'endless-body': endlessBody,
};

const REWRITES: Partial<Record<HostileCase, Rewrite>> = {
  'billion-laughs': billionLaughs,
  'external-entity': externalEntity,
  'deep-nesting': deepNesting,
  'endless-xml': endlessXml,
  'huge-size': hugeSize,
  'endless-paging': endlessPaging,
  'name-dotdot': named('name-dotdot', '..'),
  'name-slash': named('name-slash', 'evil/../../escape'),
  'name-backslash': named('name-backslash', '..\\..\\escape'),
  'name-nul': named('name-nul', 'nul&#0;name'),
  'name-long': named('name-long', 'L'.repeat(2000)),
  'duplicate-id': duplicateId,
  'self-parent': selfParent,
  'parent-cycle': parentCycle,
  'short-body': shortBody,
  'long-body': longBody,
  'wrong-hash': wrongHash,
};

/** The reply of an answering case (no handler ran). */
export function hostileAnswer(c: HostileCase, env: HostileEnv): HostileReply {
  const answer = ANSWERS[c];
  if (answer === undefined) throw new Error(`hostile case ${c} rewrites a real response`);
  return answer(env);
}

/** The reply of a rewriting case, from what the handler produced. */
export function hostileRewrite(c: HostileCase, real: RealResponse, env: HostileEnv): HostileReply {
  const rewrite = REWRITES[c];
  if (rewrite === undefined) throw new Error(`hostile case ${c} answers without a handler`);
  return rewrite(real, env);
}
