// Renders stored items as SPFileSync XML (digest §3.1, element order of G1): child elements, no namespace.
import { dashedGuid, documentETag } from '../shared/ids';
import type { Store, StoredItem } from './store';
import { wireTimestamp } from './time-format';

export const XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function el(name: string, value: string | number): string {
  return `<${name}>${typeof value === 'number' ? String(value) : escapeXml(value)}</${name}>`;
}

/** `{site}/_layouts/15/download.aspx?UniqueId=%7B<dashed guid, dashes as %2D>%7D&UserAgent=SkySync` (digest G14). */
export function preAuthUrl(siteUrl: string, id: string): string {
  return `${siteUrl}/_layouts/15/download.aspx?UniqueId=%7B${dashedGuid(id).replace(/-/g, '%2D')}%7D&UserAgent=SkySync`;
}

/** Resolves `/RootFolder/...` paths by walking parents, memoised for the life of one response. */
export class PathResolver {
  private readonly memo = new Map<string, string>();
  constructor(private readonly store: Store) {}

  pathOf(it: StoredItem): string {
    return it.parentId === null ? '/RootFolder' : `${this.folderPath(it.parentId)}/${it.name}`;
  }

  /** Memoised by folder id: a page of 1,000 siblings looks their parent up once. */
  private folderPath(id: string): string {
    const hit = this.memo.get(id);
    if (hit !== undefined) return hit;
    const folder = this.store.get(id);
    const p = folder ? this.pathOf(folder) : '/RootFolder';
    this.memo.set(id, p);
    return p;
  }
}

export interface RenderOptions {
  /** Inner XML of `<Items>`; undefined = no `<Items>` element. */
  items?: string;
  /** Emit `<ChangeTime>` on documents (change responses only). */
  changeTime?: boolean;
  /** Emit `<TotalSubItemSize>` (folders, `web3s.expand=TotalSubItemSize`). */
  totalSubItemSize?: number;
  /** Trailing XML, e.g. the root's quota elements. */
  tail?: string;
}

export function renderItem(
  it: StoredItem,
  listId: string,
  siteUrl: string,
  paths: PathResolver,
  opts: RenderOptions = {},
): string {
  const tag = it.kind === 'folder' ? 'Folder' : 'Document';
  if (it.deleted) return renderTombstone(it, listId);
  const parts: string[] = [
    el('ItemType', tag),
    el('ResourceID', it.id),
    el('ETag', it.kind === 'folder' ? it.id : documentETag(it.id, it.version)),
    el('DateCreated', wireTimestamp(it.createdMs)),
    el('DateModified', wireTimestamp(it.modifiedMs)),
    el('RelationshipName', it.parentId === null ? 'RootFolder' : it.name),
    el('Path', paths.pathOf(it)),
    el('ParentResourceID', it.parentId ?? listId),
  ];
  if (it.kind === 'document') {
    const hash = it.hash ?? '';
    parts.push(
      '<DocumentStreams><DocumentStream>',
      el('DocumentStreamName', 'Binary'),
      el('DataSize', it.size),
      el('MimeType', it.mime ?? 'application/octet-stream'),
      el('PreAuthURL', preAuthUrl(siteUrl, it.id)),
      el('XORHash', hash),
      el('WriteValidationToken', hash),
      '</DocumentStream></DocumentStreams>',
    );
  }
  if (it.kind === 'document') parts.push(writerXml(it));
  if (opts.totalSubItemSize !== undefined && it.kind === 'folder') {
    parts.push(el('TotalSubItemSize', opts.totalSubItemSize));
  }
  if (opts.items !== undefined) parts.push(`<Items>${opts.items}</Items>`);
  if (opts.changeTime && it.kind === 'document') parts.push(el('ChangeTime', wireTimestamp(it.changedMs)));
  if (opts.tail !== undefined) parts.push(opts.tail);
  return `<${tag}>${parts.join('')}</${tag}>`;
}

/** CreatedBy/LastModifiedBy and ModifierIdentity (from X-CustomIdentity `Name=Value`), when a writer set them. */
function writerXml(it: StoredItem): string {
  let out = '';
  if (it.createdBy !== null) out += el('CreatedBy', it.createdBy);
  if (it.modifiedBy !== null) out += el('LastModifiedBy', it.modifiedBy);
  if (it.modifier !== null) {
    const eq = it.modifier.indexOf('=');
    const [name, value] =
      eq > 0 ? [it.modifier.slice(0, eq), it.modifier.slice(eq + 1)] : ['SkyDriveSync', it.modifier];
    out += `<ModifierIdentity><CustomIdentity>${el('Name', name)}${el('Value', value)}</CustomIdentity></ModifierIdentity>`;
  }
  return out;
}

/** A deletion in a change response (digest G3): identity, last parent, IsDeleted, ChangeTime. */
function renderTombstone(it: StoredItem, listId: string): string {
  const tag = it.kind === 'folder' ? 'Folder' : 'Document';
  return (
    `<${tag}>${el('ItemType', tag)}${el('ResourceID', it.id)}${el('ParentResourceID', it.parentId ?? listId)}` +
    `${el('IsDeleted', 'True')}${el('ChangeTime', wireTimestamp(it.changedMs))}</${tag}>`
  );
}

export interface QuotaInfo {
  state: string;
  used: number;
  granted: number;
}

export function quotaXml(q: QuotaInfo): string {
  return el('QuotaState', q.state) + el('SpaceUsed', q.used) + el('SpaceGranted', q.granted);
}

/** Digest G17: Normal / Nearing (< 10 % left) / Critical (< 1 %) / Exceeded. */
export function quotaState(used: number, granted: number): string {
  if (used >= granted) return 'Exceeded';
  const left = (granted - used) / granted;
  if (left < 0.01) return 'Critical';
  if (left < 0.1) return 'Nearing';
  return 'Normal';
}
