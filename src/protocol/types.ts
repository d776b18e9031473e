// The typed model the protocol client hands to the layers above: items, pages, sync verdicts. No XML or HTTP here.
import type { ETag, ItemId, ListId } from '../shared/ids';

export type ItemKind = 'folder' | 'document';

/** One `<Folder>` or `<Document>` as the server described it (digest §3.1). */
export interface RemoteItem {
  kind: ItemKind;
  id: ItemId;
  /** ParentResourceID; for the library root this is the list id. */
  parentId: ItemId;
  /** RelationshipName: the leaf name (`RootFolder` for the root). */
  name: string;
  /** Path relative to the library, `/RootFolder/...` (informational: the tree is built from ids). */
  path: string;
  etag: ETag;
  created: Date;
  modified: Date;
  /** DataSize of the Binary stream; 0 for folders. */
  size: number;
  /** XORHash (base64 QuickXorHash) of the Binary stream; undefined for folders. */
  hash?: string;
  /** PreAuthURL of the Binary stream; undefined for folders. */
  downloadUrl?: string;
  mimeType?: string;
  /** A tombstone in a change response (`<IsDeleted>True</IsDeleted>`). */
  deleted: boolean;
}

export interface Quota {
  state: string;
  used: number;
  granted: number;
}

export interface RootFolder {
  item: RemoteItem;
  quota: Quota;
}

/** Where a library lives: the site URL, the list id (32 hex) and the site id. */
export interface LibraryRef {
  siteUrl: string;
  listId: ListId;
  siteId: string;
}

/** Policy rules by name (digest §3.6); unknown rules are kept. */
export interface Policy {
  rules: ReadonlyMap<string, string>;
  /** Page size for change enumeration (`ItemCount`), default 500. */
  itemCount: number;
  downloadUrlTemplate?: string;
  inlineUploadThreshold: number;
  pollingIntervalSeconds: number;
}

export type SyncStatus =
  'NoChanges' | 'IncrementalChanges' | 'FullData' | 'ResyncNeeded' | 'CurrentSyncTokenOnly';

/**
 * ResyncAction values. The digest (§4.2, G6) names `ResetReupload`, `Reupload` and `DifferentialUpload`; the other two
 * are kept for compatibility with earlier drafts. Absent or unrecognised on the wire → `ResetReupload` (digest G5).
 */
export type ResyncAction =
  'ResetReupload' | 'Reupload' | 'DifferentialUpload' | 'UploadLocalChanges' | 'ResetAllLocalChanges';

/** One page of the change enumeration (E7). Items are flattened in document order (parents before children). */
export interface ChangePage {
  status: SyncStatus;
  /** X-SyncToken exactly as received (already URL-encoded); absent on ResyncNeeded/CurrentSyncTokenOnly. */
  token?: string;
  hasMore: boolean;
  root: RemoteItem;
  items: RemoteItem[];
  resyncAction?: ResyncAction;
}

/** One page of a folder's children (E6). */
export interface ChildrenPage {
  folder: RemoteItem;
  items: RemoteItem[];
  hasMore: boolean;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive; undefined = to the end. */
  end?: number;
}

/** A streaming download body; consumers iterate chunks and may abort early. */
export interface DownloadStream {
  status: number;
  /** Total size of the resource when known (from Content-Range or Content-Length). */
  totalSize?: number;
  etag?: string;
  body: AsyncIterable<Uint8Array>;
  /** Stops the transfer and releases the connection. */
  abort(): void;
}

export interface ChildrenQuery {
  foldersOnly: boolean;
  /** web3s.paging offset and count (count ≤ 1000). */
  offset: number;
  count: number;
  /** Depth=0 → direct children only (the default here). */
  depth?: number;
}

export interface ChangesQuery {
  /** Omit on a first run. Sent back exactly as received, never re-encoded. */
  token?: string;
  maxItemCount: number;
  flat?: boolean;
}

/** Every SPFileSync operation the layers above need, one async method each (implemented by SpClient). */
export interface FileSyncApi {
  readonly library: LibraryRef;
  policy(): Promise<Policy>;
  rootFolder(): Promise<RootFolder>;
  children(folderId: ItemId, query: ChildrenQuery): Promise<ChildrenPage>;
  changes(query: ChangesQuery): Promise<ChangePage>;
  /** GET of a PreAuthURL, streamed; `range` sends `Range: bytes=start-end`. */
  download(url: string, range?: ByteRange, signal?: AbortSignal): Promise<DownloadStream>;
  close(): Promise<void>;
}
