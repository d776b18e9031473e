// The typed model the protocol client hands to the layers above: items, pages, sync verdicts. No XML or HTTP here.
import type { ETag, ItemId, ListId } from '../shared/ids';
import type { WriteStatus } from '../shared/write-status';
import type { RequestPriority } from './http/pacer';

export type { RequestPriority };

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
  /** ModifierIdentity/CustomIdentity/Value: the sync client instance that wrote last (our own X-CustomIdentity
   * for our writes). Undefined when the server did not say (a web edit, a server-side rewrite). */
  modifierIdentity?: string;
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
  /** The bytes, chunk by chunk. Consume either this or `batches`, not both. */
  body: AsyncIterable<Uint8Array>;
  /** The same bytes as batches of the chunks that arrived together (cheaper for bulk consumers). */
  batches: AsyncIterable<readonly Uint8Array[]>;
  /** Stops the transfer and releases the connection. */
  abort(): void;
  /**
   * Chunks of `batches` the consumer has written and no longer reads may be given back, so their memory is reused
   * for the next bytes (direct downloads; absent elsewhere). Optional for the consumer: unreleased chunks are
   * simply garbage-collected. Releasing a chunk and then reading it is a bug: its bytes will be overwritten.
   */
  release?: (chunks: readonly Uint8Array[]) => void;
  /**
   * Present when the bytes are still in the download worker: has it write at most `limit` of them to `fd` from
   * offset `at` itself, calling `onLanded` for each range written (with the lanes of its QuickXorHash, see
   * QuickXorHash.startingAt). Resolves once the worker no longer touches `fd`. Consume this or the bytes, not both.
   */
  writeTo?: (
    fd: number,
    at: number,
    limit: number,
    onLanded: (at: number, n: number, lanes: Uint8Array) => void,
  ) => Promise<void>;
}

export interface ChildrenQuery {
  foldersOnly: boolean;
  /** web3s.paging offset and count (count ≤ 1000). */
  offset: number;
  count: number;
  /** Depth=0 → direct children only (the default here). */
  depth?: number;
  /** `background` for the folder crawl, so reads (foreground) keep their headroom in the pacer. */
  priority?: RequestPriority;
}

export interface ChangesQuery {
  /** Omit on a first run. Sent back exactly as received, never re-encoded. */
  token?: string;
  maxItemCount: number;
  flat?: boolean;
  /** `background` for bulk enumeration, so reads (foreground) keep their headroom in the pacer. */
  priority?: RequestPriority;
}

/** What the server said about itself in its latest response. */
export interface ServerState {
  /** `X-SP-SERVERSTATE: ReadOnly=1`: writes are refused (typed ReadOnlyError); keep downloading. */
  readOnly: boolean;
  /** Latest `X-SharePointHealthScore` (0–10); ≥ 8 slows background requests. */
  healthScore: number | undefined;
}

/** Every WriteStatus of digest §3.5 (E8 per-item result); one definition shared with the server. */
export type { WriteStatus };

export type WriteFailureStatus = Exclude<WriteStatus, 'Success' | 'Conflict' | 'NameConflict'>;

/** Enough of an item to address it in a write: its id, the ETag the change is based on, and its element. */
export interface ItemRef {
  id: ItemId;
  etag: ETag;
  kind: ItemKind;
}

/** File content to upload, streamed from a local path. `hash`/`size` are computed when absent. */
export interface UploadSource {
  path: string;
  size?: number;
  /** QuickXorHash (base64) of the file. */
  hash?: string;
  mimeType?: string;
}

export type WriteOp =
  | {
      op: 'createFile';
      parentId: ItemId;
      name: string;
      source: UploadSource;
      created?: Date;
      modified?: Date;
    }
  | { op: 'updateFile'; item: ItemRef; source: UploadSource; modified?: Date }
  | { op: 'createFolder'; parentId: ItemId; name: string; created?: Date; modified?: Date }
  /** Rename and/or move: a new name, a new parent, or both. */
  | { op: 'move'; item: ItemRef; name?: string; parentId?: ItemId }
  | { op: 'delete'; item: ItemRef }
  /** Metadata only: a new DateModifiedOnClient. */
  | { op: 'touch'; item: ItemRef; modified: Date };

/** Per-item result of a write, in request order. */
export type WriteResult =
  | {
      status: 'Success';
      /** The server's item after the write (a tombstone for a delete). */
      item: RemoteItem;
      /** The server changed the content we sent (size or hash differ): e.g. SharePoint rewrote an Office file. */
      rewrittenByServer: boolean;
      /** The lost response was resolved by reading the item back rather than from the write's own answer. */
      recovered?: boolean;
    }
  | { status: 'Conflict'; current: RemoteItem | undefined }
  | { status: 'NameConflict'; current: RemoteItem | undefined }
  | { status: WriteFailureStatus; current: RemoteItem | undefined; message?: string };

export interface WriteOptions {
  signal?: AbortSignal;
  /** Progress of large uploads in bytes acknowledged by the server. */
  onProgress?: (bytes: number) => void;
}

export interface Subscription {
  id: string;
  expires: Date;
  channelUrl: string;
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

/** The write half of the protocol (E8/E9/E13), subscriptions (E11) and server state, for the sync layer. */
export interface FileSyncWriteApi extends FileSyncApi {
  /** The X-CustomIdentity value we write with; our own writes come back with it as `modifierIdentity`. */
  readonly customIdentity: string;
  readonly serverState: ServerState;
  onServerState(listener: (s: ServerState) => void): () => void;
  /** E12: one item by id; NotFoundError when gone. */
  item(id: ItemId, signal?: AbortSignal): Promise<RemoteItem>;
  createFile(parentId: ItemId, name: string, source: UploadSource, opts?: WriteOptions): Promise<RemoteItem>;
  updateFile(item: ItemRef, source: UploadSource, opts?: WriteOptions): Promise<RemoteItem>;
  createFolder(parentId: ItemId, name: string, opts?: WriteOptions): Promise<RemoteItem>;
  rename(item: ItemRef, name: string, opts?: WriteOptions): Promise<RemoteItem>;
  move(item: ItemRef, parentId: ItemId, name?: string, opts?: WriteOptions): Promise<RemoteItem>;
  delete(item: ItemRef, opts?: WriteOptions): Promise<void>;
  touch(item: ItemRef, modified: Date, opts?: WriteOptions): Promise<RemoteItem>;
  writeBatch(ops: readonly WriteOp[], opts?: WriteOptions): Promise<WriteResult[]>;
  subscribe(clientState?: string, lifetimeS?: number): Promise<Subscription>;
  renew(subscriptionId: string, lifetimeS?: number): Promise<Subscription>;
  unsubscribe(subscriptionId: string): Promise<void>;
  waitForNotification(
    channelUrl: string,
    timeoutS: number,
    signal?: AbortSignal,
  ): Promise<'changed' | 'timeout'>;
}
