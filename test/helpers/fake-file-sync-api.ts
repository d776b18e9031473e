// An in-memory FileSyncApi for the pure logic of tree sync and hydration (paging, tombstones, name filtering, range
// waiting). End-to-end cases use the real reference server instead.
import { randomBytes } from 'node:crypto';
import type {
  ByteRange,
  ChangePage,
  ChangesQuery,
  ChildrenPage,
  ChildrenQuery,
  DownloadStream,
  FileSyncApi,
  LibraryRef,
  Policy,
  RemoteItem,
  RootFolder,
  SyncStatus,
} from '../../src/protocol/types';
import { HttpStatusError, NotFoundError } from '../../src/protocol/errors';
import { downloadStreamOf } from '../../src/protocol/http/read-batches';
import { asItemId, asListId, documentETag, type ETag, type ItemId } from '../../src/shared/ids';
import { quickXorHash } from '../../src/shared/quickxorhash';

interface Node {
  id: ItemId;
  parentId: ItemId;
  name: string;
  kind: 'folder' | 'document';
  content: Buffer;
  version: number;
  seq: number;
  deleted: boolean;
  /** Overrides the advertised XORHash (to simulate a corrupted blob). */
  hash?: string;
}

export function newId(): ItemId {
  return asItemId(randomBytes(16).toString('hex'));
}

export class FakeFileSyncApi implements FileSyncApi {
  readonly library: LibraryRef = {
    siteUrl: 'http://fake.invalid/personal/alice',
    listId: asListId(randomBytes(16).toString('hex')),
    siteId: randomBytes(16).toString('hex'),
  };
  readonly rootId = newId();
  itemCount = 3;
  /** Nested listings (Depth > 0) of more items than this are refused with 400, as the reference server does. */
  maxNestedItems: number | undefined;
  chunkBytes = 64 * 1024;
  /** Forces the status of the next change request (then cleared). */
  nextStatus: SyncStatus | undefined;
  /** Called before each chunk of a download is yielded; tests await their own gates here. */
  beforeChunk: ((id: ItemId, offset: number, range: ByteRange | undefined) => Promise<void>) | undefined;
  /** Throws a network-like error from a non-range stream once it has yielded this many bytes (simulated fault). */
  breakStreamAtBytes: number | undefined;
  readonly calls = {
    policy: 0,
    children: 0,
    changes: [] as ChangesQuery[],
    downloads: [] as Array<ByteRange | undefined>,
  };
  private readonly nodes = new Map<string, Node>();
  private seq = 0;

  constructor() {
    this.nodes.set(
      this.rootId,
      this.node(this.rootId, asItemId(this.library.listId), 'RootFolder', 'folder'),
    );
  }

  addFolder(parentId: ItemId, name: string, id: ItemId = newId()): ItemId {
    this.nodes.set(id, this.node(id, parentId, name, 'folder'));
    return id;
  }

  addFile(parentId: ItemId, name: string, content: Buffer | string, id: ItemId = newId()): ItemId {
    const n = this.node(id, parentId, name, 'document');
    n.content = Buffer.from(content);
    this.nodes.set(id, n);
    return id;
  }

  update(id: ItemId, patch: { name?: string; parentId?: ItemId; content?: Buffer; hash?: string }): void {
    const n = this.get(id);
    Object.assign(n, patch);
    n.version++;
    n.seq = ++this.seq;
  }

  remove(id: ItemId): void {
    const n = this.get(id);
    n.deleted = true;
    n.seq = ++this.seq;
    for (const c of this.nodes.values()) if (c.parentId === id && !c.deleted) this.remove(c.id);
  }

  etagOf(id: ItemId): ETag {
    return documentETag(id, this.get(id).version);
  }

  policy(): Promise<Policy> {
    this.calls.policy++;
    return Promise.resolve({
      rules: new Map([['ItemCount', String(this.itemCount)]]),
      itemCount: this.itemCount,
      inlineUploadThreshold: 8 * 1024 * 1024,
      pollingIntervalSeconds: 120,
    });
  }

  rootFolder(): Promise<RootFolder> {
    return Promise.resolve({
      item: this.remote(this.get(this.rootId)),
      quota: { state: 'Normal', used: 1234, granted: 1_000_000 },
    });
  }

  children(folderId: ItemId, q: ChildrenQuery): Promise<ChildrenPage> {
    this.calls.children++;
    const folder = this.nodes.get(folderId);
    if (!folder || folder.deleted) {
      return Promise.reject(
        new NotFoundError({ method: 'GET', url: `fake://items/${folderId}`, status: 404 }),
      );
    }
    const kids = (id: ItemId): Node[] =>
      [...this.nodes.values()]
        .filter((n) => n.parentId === id && !n.deleted && n.id !== this.rootId)
        .filter((n) => !q.foldersOnly || n.kind === 'folder')
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const all = kids(folderId);
    const page = all.slice(q.offset, q.offset + q.count);
    // Depth > 0 nests each child's subtree that many levels down, pre-order (as the reference server renders it).
    const items: RemoteItem[] = [];
    const add = (n: Node, levelsLeft: number): void => {
      items.push(this.remote(n));
      if (n.kind === 'folder' && levelsLeft > 0) for (const k of kids(n.id)) add(k, levelsLeft - 1);
    };
    for (const n of page) add(n, q.depth ?? 0);
    if (this.maxNestedItems !== undefined && (q.depth ?? 0) > 0 && items.length > this.maxNestedItems) {
      return Promise.reject(
        new HttpStatusError(
          { method: 'GET', url: `fake://items/${folderId}`, status: 400 },
          undefined,
          'subtree too large',
        ),
      );
    }
    return Promise.resolve({ folder: this.remote(folder), items, hasMore: q.offset + q.count < all.length });
  }

  changes(q: ChangesQuery): Promise<ChangePage> {
    this.calls.changes.push(q);
    const root = this.remote(this.get(this.rootId));
    const forced = this.nextStatus;
    this.nextStatus = undefined;
    if (forced === 'CurrentSyncTokenOnly' || forced === 'ResyncNeeded') {
      const page: ChangePage = { status: forced, hasMore: false, root, items: [] };
      if (forced === 'ResyncNeeded') page.resyncAction = 'ResetReupload';
      return Promise.resolve(page);
    }
    // Tokens: `<since>:<snapshot>:<offset>`; a full pass is since = -1.
    let since = -1;
    let snapshot = this.seq;
    let offset = 0;
    if (q.token !== undefined) {
      const m = /^(-?\d+):(\d+):(\d+)$/.exec(q.token);
      if (!m) return Promise.resolve({ status: 'CurrentSyncTokenOnly', hasMore: false, root, items: [] });
      [since, snapshot, offset] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (offset === 0) snapshot = this.seq;
    }
    const changed = this.ordered().filter((n) => n.id !== this.rootId && n.seq > since && n.seq <= snapshot);
    const live = since < 0 ? changed.filter((n) => !n.deleted) : changed;
    const page = live.slice(offset, offset + q.maxItemCount);
    const hasMore = offset + q.maxItemCount < live.length;
    const token = hasMore ? `${since}:${snapshot}:${offset + q.maxItemCount}` : `${snapshot}:${snapshot}:0`;
    let status: SyncStatus = since < 0 ? 'FullData' : page.length > 0 ? 'IncrementalChanges' : 'NoChanges';
    if (forced !== undefined) status = forced;
    return Promise.resolve({ status, token, hasMore, root, items: page.map((n) => this.remote(n)) });
  }

  download(url: string, range?: ByteRange, signal?: AbortSignal): Promise<DownloadStream> {
    this.calls.downloads.push(range);
    const id = url.replace('fake://download/', '');
    const n = this.nodes.get(id);
    if (!n || n.deleted) return Promise.reject(new NotFoundError({ method: 'GET', url, status: 404 }));
    const start = range?.start ?? 0;
    const end = range?.end === undefined ? n.content.length : range.end + 1;
    const data = n.content.subarray(start, end);
    const chunk = this.chunkBytes;
    const before = this.beforeChunk;
    const breakAt = range === undefined ? this.breakStreamAtBytes : undefined;
    this.breakStreamAtBytes = range === undefined ? undefined : this.breakStreamAtBytes;
    let aborted = false;
    async function* batches(): AsyncGenerator<Uint8Array[]> {
      for (let off = 0; off < data.length; off += chunk) {
        if (aborted || signal?.aborted) throw new Error('aborted');
        if (breakAt !== undefined && off >= breakAt) throw new Error('connection reset (simulated fault)');
        if (before) await before(n!.id, start + off, range);
        yield [data.subarray(off, off + chunk)];
      }
    }
    const stream = downloadStreamOf({
      status: range ? 206 : 200,
      batches: batches(),
      abort: () => {
        aborted = true;
      },
      totalSize: n.content.length,
      etag: documentETag(n.id, n.version),
    });
    return Promise.resolve(stream);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private get(id: ItemId): Node {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no fake item ${id}`);
    return n;
  }

  private node(id: ItemId, parentId: ItemId, name: string, kind: Node['kind']): Node {
    return {
      id,
      parentId,
      name,
      kind,
      content: Buffer.alloc(0),
      version: 1,
      seq: ++this.seq,
      deleted: false,
    };
  }

  /** Parents before children (depth first from the root), then orphaned tombstones by sequence. */
  private ordered(): Node[] {
    const out: Node[] = [];
    const seen = new Set<string>();
    const visit = (id: ItemId): void => {
      for (const n of [...this.nodes.values()]
        .filter((c) => c.parentId === id)
        .sort((a, b) => a.seq - b.seq)) {
        if (seen.has(n.id)) continue;
        seen.add(n.id);
        out.push(n);
        visit(n.id);
      }
    };
    visit(this.rootId);
    for (const n of this.nodes.values()) if (!seen.has(n.id) && n.id !== this.rootId) out.push(n);
    return out;
  }

  private remote(n: Node): RemoteItem {
    const r: RemoteItem = {
      kind: n.kind,
      id: n.id,
      parentId: n.parentId,
      name: n.name,
      path: `/RootFolder/${n.name}`,
      etag: n.kind === 'document' ? documentETag(n.id, n.version) : (n.id as string as ETag),
      created: new Date(1_700_000_000_000),
      modified: new Date(1_700_000_000_000 + n.seq * 1000),
      size: n.kind === 'document' ? n.content.length : 0,
      deleted: n.deleted,
    };
    if (n.kind === 'document') {
      r.hash = n.hash ?? quickXorHash(n.content);
      r.downloadUrl = `fake://download/${n.id}`;
      r.mimeType = 'application/octet-stream';
    }
    return r;
  }
}
