// SpClient: the MS-FILESYNC client. One async method per operation (FileSyncWriteApi); everything above sees typed
// results and typed errors. Requests run through SpSession (pacer, auth, digest, retries of idempotent calls);
// writes through SpWriter; downloads never leave the site's origin and resume after a reset.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../shared/clock';
import { systemClock } from '../shared/clock';
import { InvalidInputError } from '../shared/errors';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { basicAuth, type AuthProvider } from './auth/auth-provider';
import { NtlmAuth, type NtlmCredentials } from './auth/ntlm-auth';
import { discoverLibrary, parseStartUrl } from './discover-library';
import { ProtocolError, WriteRejectedError } from './errors';
import { headerValue } from './headers';
import { rangeHeader, toDownloadStream } from './http/download-stream';
import { Pacer, type PacerOptions, type RequestPriority } from './http/pacer';
import { redactUrl } from './http/redact';
import { resumableDownload } from './http/resumable-download';
import {
  DEFAULT_CONNECTIONS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  HttpTransport,
  tlsConnectOptions,
  type TlsOptions,
} from './http/transport';
import { JSON_ACCEPT, SpSession, XML_ACCEPT, type SpRequest, type TextResponse } from './sp-session';
import { SpSubscriptions } from './sp-subscriptions';
import { SpWriter } from './sp-writer';
import type {
  ByteRange,
  ChangePage,
  ChangesQuery,
  ChildrenPage,
  ChildrenQuery,
  DownloadStream,
  FileSyncWriteApi,
  ItemRef,
  LibraryRef,
  Policy,
  RemoteItem,
  RootFolder,
  ServerState,
  Subscription,
  UploadSource,
  WriteOp,
  WriteOptions,
  WriteResult,
} from './types';
import { alwaysReachable, type Reachability } from './reachability';
import { DEFAULT_USER_AGENT } from './version';
import { decodeChangeBody, decodeChangeHeaders } from './xml/change-page';
import { decodeChildrenPage } from './xml/children-page';
import type { RejectedItem } from './xml/item';
import { decodeItem } from './xml/item';
import { parseBool } from './xml/node';
import { parseXmlDocument } from './xml/parser';
import { MAX_ITEM_COUNT, decodePolicy } from './xml/policy';
import { decodeRootFolder } from './xml/root-folder';

export interface SpClientOptions {
  /** A server origin (personal site via GetMyProperties), a site URL (`/personal/x`, `/sites/x`) or a library URL. */
  url: string;
  /** HTTP Basic; ignored when `auth` or `connectionAuth` is given. */
  credentials?: { user: string; password: string };
  /** Per-request auth (Basic, Bearer, cookies). */
  auth?: AuthProvider;
  /** NTLM (connection-bound): one handshake per connection, connections never shared with another client. */
  ntlm?: NtlmCredentials;
  tls?: TlsOptions;
  logger?: Logger;
  clock?: Clock;
  userAgent?: string;
  requestTimeoutMs?: number;
  /** Keep-alive connections per origin (API calls and downloads share them). */
  connections?: number;
  /** X-MachineId sent on every request; a random GUID per client when absent. */
  machineId?: string;
  /** X-CustomIdentity GUID: stable per install (the CLI keeps it in the cache folder); random when absent. */
  customIdentity?: string;
  /** Jitter source for backoff, [0,1); tests pin it. */
  random?: () => number;
  pacer?: Omit<PacerOptions, 'clock'>;
  /** BITS fragment size (default 10 MiB). */
  fragmentBytes?: number;
  /** A library found before (kept by the caller): skips discovery, so a client can be made while offline. */
  library?: LibraryRef;
  /** The mount's online state (sync's Connectivity); default: always online, failures unheard. */
  reachability?: Reachability;
}

/** A token arrives URL-encoded (X-SyncToken) and goes back verbatim; only characters that would break the query
 * (space, `&`, `#`, non-ASCII, a `%` that starts no escape) are escaped, so an encoded token is never re-encoded. */
export function tokenForQuery(token: string): string {
  return token.replace(/%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$'()*+,;=:@/?%]/gu, (c) =>
    encodeURIComponent(c),
  );
}

function checkInt(value: number, min: number, max: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidInputError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

export class SpClient implements FileSyncWriteApi {
  readonly library: LibraryRef;
  readonly customIdentity: string;
  private readonly session: SpSession;
  private readonly writer: SpWriter;
  private readonly subs: SpSubscriptions;
  private readonly sfs: string;
  private readonly siteOrigin: string;
  /** The last root item seen, for answers without a body (304 NoChanges). */
  private lastRoot: RemoteItem | undefined;
  private cachedPolicy: Promise<Policy> | undefined;
  private closed = false;

  private constructor(library: LibraryRef, session: SpSession, opts: SpClientOptions) {
    this.library = library;
    this.session = session;
    this.customIdentity = opts.customIdentity ?? randomUUID();
    this.sfs = `${library.siteUrl}/_api/SPFileSync/sync/${library.listId}`;
    this.siteOrigin = new URL(library.siteUrl).origin;
    this.subs = new SpSubscriptions(session, this.sfs);
    this.writer = new SpWriter({
      session,
      sfs: this.sfs,
      customIdentity: this.customIdentity,
      lookups: { item: (id, signal) => this.item(id, signal), children: (id, q) => this.children(id, q) },
      inlineThreshold: async () => (await this.policyOnce()).inlineUploadThreshold,
      fragmentBytes: opts.fragmentBytes,
      subscriptionId: () => this.subs.currentId,
    });
  }

  static async connect(opts: SpClientOptions): Promise<SpClient> {
    const start = parseStartUrl(opts.url);
    const clock = opts.clock ?? systemClock;
    const transport = new HttpTransport({
      auth:
        opts.auth ??
        (opts.credentials ? basicAuth(opts.credentials.user, opts.credentials.password) : undefined),
      connectionAuth: opts.ntlm
        ? new NtlmAuth(opts.ntlm, {
            connections: opts.connections ?? DEFAULT_CONNECTIONS,
            connect: tlsConnectOptions(opts.tls, opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
          })
        : undefined,
      tls: opts.tls,
      userAgent: opts.userAgent ?? DEFAULT_USER_AGENT,
      requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      connections: opts.connections ?? DEFAULT_CONNECTIONS,
      machineId: opts.machineId,
      logger: opts.logger,
    });
    const deps = {
      transport,
      clock,
      logger: opts.logger,
      random: opts.random,
      pacer: new Pacer({ clock, ...opts.pacer }),
      reachability: opts.reachability ?? alwaysReachable,
    };
    try {
      const probe = new SpSession(start.base, deps);
      const getJson = async (url: URL): Promise<string> =>
        (await probe.text({ method: 'GET', url, accept: JSON_ACCEPT, what: 'discovery' })).text;
      const library = opts.library ?? (await discoverLibrary(start, getJson));
      opts.logger?.info(
        { site: redactUrl(library.siteUrl), listId: library.listId, auth: transport.authScheme },
        'connected to library',
      );
      return new SpClient(library, new SpSession(library.siteUrl, deps), opts);
    } catch (err) {
      await transport.close();
      throw err;
    }
  }

  get serverState(): ServerState {
    return this.session.serverState;
  }

  onServerState(listener: (s: ServerState) => void): () => void {
    return this.session.onServerState(listener);
  }

  async policy(): Promise<Policy> {
    const res = await this.get(new URL(`${this.sfs}/policy/`), 'policy');
    const policy = decodePolicy(res.text);
    this.cachedPolicy = Promise.resolve(policy);
    return policy;
  }

  async rootFolder(): Promise<RootFolder> {
    const res = await this.get(
      new URL(`${this.sfs}/RootFolder?View=SkyDriveSync&web3s.expand=QuotaState`),
      'root',
    );
    const root = decodeRootFolder(res.text);
    this.lastRoot = root.item;
    return root;
  }

  async children(folderId: ItemId, query: ChildrenQuery): Promise<ChildrenPage> {
    checkInt(query.offset, 0, Number.MAX_SAFE_INTEGER, 'offset');
    checkInt(query.count, 1, MAX_ITEM_COUNT, 'count');
    const depth = query.depth ?? 0;
    checkInt(depth, 0, 1000, 'depth');
    const url = new URL(
      `${this.sfs}/Items/${encodeURIComponent(folderId)}?View=SkyDriveSync&Depth=${depth}` +
        `&FoldersOnly=${query.foldersOnly ? 'true' : 'false'}&web3s.paging=${query.offset},${query.count}`,
    );
    const res = await this.get(url, 'children', undefined, undefined, query.priority);
    const rejected: RejectedItem[] = [];
    const page = decodeChildrenPage(res.text, parseBool(headerValue(res.headers, 'X-HasMoreData')), rejected);
    this.reportRejected(rejected);
    return page;
  }

  /** Items a page held that did not decode: left out of it, each named in a warning. */
  private reportRejected(rejected: readonly RejectedItem[]): void {
    for (const r of rejected) {
      this.session.deps.logger?.warn(
        { id: r.id ?? null, reason: r.reason },
        `skipping server item ${r.id ?? '(no ResourceID)'}: ${r.reason}`,
      );
    }
  }

  async item(id: ItemId, signal?: AbortSignal): Promise<RemoteItem> {
    const res = await this.session.text({
      method: 'GET',
      url: new URL(`${this.sfs}/Items/${encodeURIComponent(id)}?View=SkyDriveSync`),
      accept: XML_ACCEPT,
      what: 'item',
      signal,
    });
    return decodeSingleItem(res.text);
  }

  async changes(query: ChangesQuery): Promise<ChangePage> {
    checkInt(query.maxItemCount, 1, MAX_ITEM_COUNT, 'maxItemCount');
    const token = query.token === undefined ? '' : `&SyncToken=${tokenForQuery(query.token)}`;
    const url = new URL(
      `${this.sfs}/RootFolder?Filter=changes&InlineBlobs=false&MaxItemCount=${query.maxItemCount}${token}&View=SkyDriveSync`,
    );
    const headers: Record<string, string> = query.flat ? { 'x-responsestructure': 'Flat' } : {};
    const res = await this.get(url, 'changes', headers, [304], query.priority);

    if (res.status === 304) {
      // The legacy service's "no changes" (digest §3.3): no body, the sent token stays current.
      const page: ChangePage = {
        status: 'NoChanges',
        hasMore: false,
        root: await this.knownRoot(),
        items: [],
      };
      if (query.token !== undefined) page.token = query.token;
      return page;
    }
    const verdict = decodeChangeHeaders(res.headers, query.token, this.session.deps.logger);
    const bodyless =
      res.text.trim() === '' && verdict.status !== 'FullData' && verdict.status !== 'IncrementalChanges';
    const body = bodyless
      ? { root: await this.knownRoot(), items: [], rejected: [] }
      : decodeChangeBody(res.text);
    this.reportRejected(body.rejected);
    this.lastRoot = body.root;
    const page: ChangePage = {
      status: verdict.status,
      hasMore: verdict.hasMore,
      root: body.root,
      items: body.items,
    };
    if (verdict.token !== undefined) page.token = verdict.token;
    if (verdict.resyncAction !== undefined) page.resyncAction = verdict.resyncAction;
    return page;
  }

  /** GET of a PreAuthURL, streamed. A reset or short body mid-transfer resumes with Range + If-Range (ETag). */
  async download(url: string, range?: ByteRange, signal?: AbortSignal): Promise<DownloadStream> {
    const target = this.downloadTarget(url);
    if (range) {
      checkInt(range.start, 0, Number.MAX_SAFE_INTEGER, 'range.start');
      if (range.end !== undefined) checkInt(range.end, range.start, Number.MAX_SAFE_INTEGER, 'range.end');
    }
    const { clock, logger, random } = this.session.deps;
    return resumableDownload(
      async (r, ifRange) => {
        const headers: Record<string, string> = r ? { range: rangeHeader(r) } : {};
        if (ifRange !== undefined) headers['if-range'] = ifRange;
        const res = await this.session.stream({
          method: 'GET',
          url: target,
          accept: '*/*',
          gzip: false,
          headers,
          signal,
          what: 'download',
          bulk: true,
        });
        return toDownloadStream(res, r, target, signal);
      },
      range,
      {
        clock,
        logger,
        random,
        signal,
        what: `GET ${redactUrl(target)}`,
        mayRetry: () => this.session.mayRetry(),
        onFailure: (err) => this.session.reportFailure(err, signal),
      },
    );
  }

  writeBatch(ops: readonly WriteOp[], opts?: WriteOptions): Promise<WriteResult[]> {
    return this.writer.writeBatch(ops, opts);
  }

  createFile(parentId: ItemId, name: string, source: UploadSource, opts?: WriteOptions): Promise<RemoteItem> {
    return this.one({ op: 'createFile', parentId, name, source, modified: new Date() }, opts);
  }

  updateFile(item: ItemRef, source: UploadSource, opts?: WriteOptions): Promise<RemoteItem> {
    return this.one({ op: 'updateFile', item, source, modified: new Date() }, opts);
  }

  createFolder(parentId: ItemId, name: string, opts?: WriteOptions): Promise<RemoteItem> {
    return this.one({ op: 'createFolder', parentId, name }, opts);
  }

  rename(item: ItemRef, name: string, opts?: WriteOptions): Promise<RemoteItem> {
    return this.one({ op: 'move', item, name }, opts);
  }

  move(item: ItemRef, parentId: ItemId, name?: string, opts?: WriteOptions): Promise<RemoteItem> {
    return this.one(
      name === undefined ? { op: 'move', item, parentId } : { op: 'move', item, parentId, name },
      opts,
    );
  }

  async delete(item: ItemRef, opts?: WriteOptions): Promise<void> {
    await this.one({ op: 'delete', item }, opts);
  }

  touch(item: ItemRef, modified: Date, opts?: WriteOptions): Promise<RemoteItem> {
    return this.one({ op: 'touch', item, modified }, opts);
  }

  subscribe(clientState?: string, lifetimeS?: number): Promise<Subscription> {
    return this.subs.subscribe(clientState, lifetimeS);
  }

  renew(subscriptionId: string, lifetimeS?: number): Promise<Subscription> {
    return this.subs.renew(subscriptionId, lifetimeS);
  }

  unsubscribe(subscriptionId: string): Promise<void> {
    return this.subs.unsubscribe(subscriptionId);
  }

  waitForNotification(
    channelUrl: string,
    timeoutS: number,
    signal?: AbortSignal,
  ): Promise<'changed' | 'timeout'> {
    return this.subs.waitForNotification(this.channelTarget(channelUrl), timeoutS, signal);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.deps.transport.close();
  }

  private async one(op: WriteOp, opts?: WriteOptions): Promise<RemoteItem> {
    const [res] = await this.writer.writeBatch([op], opts);
    if (res === undefined) throw new ProtocolError('write: no result');
    if (res.status !== 'Success')
      throw new WriteRejectedError(
        op.op,
        res.status,
        res.current,
        'message' in res ? res.message : undefined,
      );
    return res.item;
  }

  private policyOnce(): Promise<Policy> {
    this.cachedPolicy ??= this.policy().catch((err: unknown) => {
      this.cachedPolicy = undefined;
      throw err;
    });
    return this.cachedPolicy;
  }

  /** PreAuthURLs are absolute; following one to another origin would hand our credentials to it. */
  private downloadTarget(raw: string): URL {
    return this.sameOrigin(raw, 'download URL');
  }

  private channelTarget(raw: string): URL {
    return this.sameOrigin(raw, 'channel URL');
  }

  private sameOrigin(raw: string, what: string): URL {
    let target: URL;
    try {
      target = new URL(raw, `${this.library.siteUrl}/`);
    } catch (err) {
      throw new ProtocolError(`${what} is not a valid URL`, { cause: err });
    }
    if (target.origin !== this.siteOrigin || target.username || target.password) {
      throw new ProtocolError(`${what} ${redactUrl(target)} is outside the site's origin ${this.siteOrigin}`);
    }
    return target;
  }

  private async knownRoot(): Promise<RemoteItem> {
    return this.lastRoot ?? (await this.rootFolder()).item;
  }

  private get(
    url: URL,
    what: string,
    headers?: Record<string, string>,
    okStatuses?: number[],
    priority?: RequestPriority,
  ): Promise<TextResponse> {
    const req: SpRequest = { method: 'GET', url, accept: XML_ACCEPT, what };
    if (headers) req.headers = headers;
    if (okStatuses) req.okStatuses = okStatuses;
    if (priority) req.priority = priority;
    return this.session.text(req);
  }
}

/** E12: a lone `<Folder>` or `<Document>`. */
export function decodeSingleItem(body: string): RemoteItem {
  const isFolder = /^\s*(<\?xml[^>]*\?>)?\s*<Folder[\s>/]/.test(
    body.charCodeAt(0) === 0xfeff ? body.slice(1) : body,
  );
  const node = parseXmlDocument(body, isFolder ? 'Folder' : 'Document', 'item');
  return decodeItem(node, isFolder ? 'folder' : 'document', 'item');
}
