// SpClient: the MS-FILESYNC client. One async method per operation (FileSyncApi); everything above sees typed results
// and typed errors. Idempotent GETs are retried per http/retry.ts; downloads never leave the site's origin.
import type { Clock } from '../shared/clock';
import { systemClock } from '../shared/clock';
import { InvalidInputError } from '../shared/errors';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { discoverLibrary, parseStartUrl } from './discover-library';
import { ProtocolError } from './errors';
import { headerValue, type HeaderMap } from './headers';
import { rangeHeader, toDownloadStream } from './http/download-stream';
import { redactUrl } from './http/redact';
import { withRetry } from './http/retry';
import { errorForStatus } from './http/status';
import { DEFAULT_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT_MS, HttpTransport } from './http/transport';
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
} from './types';
import { DEFAULT_USER_AGENT } from './version';
import { decodeChangeBody, decodeChangeHeaders } from './xml/change-page';
import { decodeChildrenPage } from './xml/children-page';
import { parseBool } from './xml/node';
import { MAX_ITEM_COUNT } from './xml/policy';
import { decodePolicy } from './xml/policy';
import { decodeRootFolder } from './xml/root-folder';

export interface SpClientOptions {
  /** A server origin (personal site found via GetMyProperties) or a site URL (`/personal/x`, `/sites/x`). */
  url: string;
  credentials?: { user: string; password: string };
  logger?: Logger;
  clock?: Clock;
  userAgent?: string;
  requestTimeoutMs?: number;
  /** Keep-alive connections per origin (API calls and downloads share them). */
  connections?: number;
  /** X-MachineId sent on every request; a random GUID per client when absent. */
  machineId?: string;
  /** Jitter source for backoff, [0,1); tests pin it. */
  random?: () => number;
}

const XML_ACCEPT = 'application/web3s+xml';
const JSON_ACCEPT = 'application/json;odata=verbose';

interface TextResponse {
  status: number;
  headers: HeaderMap;
  text: string;
}

interface Deps {
  transport: HttpTransport;
  clock: Clock;
  logger: Logger | undefined;
  random: (() => number) | undefined;
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

export class SpClient implements FileSyncApi {
  readonly library: LibraryRef;
  private readonly deps: Deps;
  private readonly sfs: string;
  private readonly siteOrigin: string;
  /** The last root item seen, for answers without a body (304 NoChanges). */
  private lastRoot: RemoteItem | undefined;
  private closed = false;

  private constructor(library: LibraryRef, deps: Deps) {
    this.library = library;
    this.deps = deps;
    this.sfs = `${library.siteUrl}/_api/SPFileSync/sync/${library.listId}`;
    this.siteOrigin = new URL(library.siteUrl).origin;
  }

  static async connect(opts: SpClientOptions): Promise<SpClient> {
    const start = parseStartUrl(opts.url);
    const deps: Deps = {
      transport: new HttpTransport({
        credentials: opts.credentials,
        userAgent: opts.userAgent ?? DEFAULT_USER_AGENT,
        requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
        connections: opts.connections ?? DEFAULT_CONNECTIONS,
        machineId: opts.machineId,
        logger: opts.logger,
      }),
      clock: opts.clock ?? systemClock,
      logger: opts.logger,
      random: opts.random,
    };
    try {
      const getJson = async (url: URL): Promise<string> =>
        (await SpClient.getText(deps, url, JSON_ACCEPT, 'discovery')).text;
      const library = await discoverLibrary(start, getJson);
      deps.logger?.info({ site: redactUrl(library.siteUrl), listId: library.listId }, 'connected to library');
      return new SpClient(library, deps);
    } catch (err) {
      await deps.transport.close();
      throw err;
    }
  }

  async policy(): Promise<Policy> {
    const res = await this.get(new URL(`${this.sfs}/policy/`), 'policy');
    return decodePolicy(res.text);
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
    const res = await this.get(url, 'children');
    return decodeChildrenPage(res.text, parseBool(headerValue(res.headers, 'X-HasMoreData')));
  }

  async changes(query: ChangesQuery): Promise<ChangePage> {
    checkInt(query.maxItemCount, 1, MAX_ITEM_COUNT, 'maxItemCount');
    const token = query.token === undefined ? '' : `&SyncToken=${tokenForQuery(query.token)}`;
    const url = new URL(
      `${this.sfs}/RootFolder?Filter=changes&InlineBlobs=false&MaxItemCount=${query.maxItemCount}${token}&View=SkyDriveSync`,
    );
    const headers: Record<string, string> = query.flat ? { 'x-responsestructure': 'Flat' } : {};
    const res = await this.get(url, 'changes', headers, [304]);

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
    const verdict = decodeChangeHeaders(res.headers, query.token, this.deps.logger);
    const bodyless =
      res.text.trim() === '' && verdict.status !== 'FullData' && verdict.status !== 'IncrementalChanges';
    const body = bodyless ? { root: await this.knownRoot(), items: [] } : decodeChangeBody(res.text);
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

  async download(url: string, range?: ByteRange, signal?: AbortSignal): Promise<DownloadStream> {
    const target = this.downloadTarget(url);
    if (range) {
      checkInt(range.start, 0, Number.MAX_SAFE_INTEGER, 'range.start');
      if (range.end !== undefined) checkInt(range.end, range.start, Number.MAX_SAFE_INTEGER, 'range.end');
    }
    const { transport, clock, logger, random } = this.deps;
    return withRetry(
      async () => {
        const res = await transport.get({
          url: target,
          accept: '*/*',
          gzip: false,
          headers: range ? { range: rangeHeader(range) } : {},
          signal,
        });
        if (res.status === 200 || res.status === 206) return toDownloadStream(res, range, target, signal);
        await transport.discard(res);
        throw errorForStatus(
          { status: res.status, method: 'GET', url: redactUrl(target) },
          res.headers,
          clock.now(),
        );
      },
      { clock, logger, signal, what: 'download', random },
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.deps.transport.close();
  }

  /** PreAuthURLs are absolute; following one to another origin would hand our credentials to it. */
  private downloadTarget(raw: string): URL {
    let target: URL;
    try {
      target = new URL(raw, `${this.library.siteUrl}/`);
    } catch (err) {
      throw new ProtocolError('download URL is not a valid URL', { cause: err });
    }
    if (target.origin !== this.siteOrigin || target.username || target.password) {
      throw new ProtocolError(
        `download URL ${redactUrl(target)} is outside the site's origin ${this.siteOrigin}`,
      );
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
  ): Promise<TextResponse> {
    return SpClient.getText(this.deps, url, XML_ACCEPT, what, headers, okStatuses);
  }

  /** A retried GET whose body is read whole; 2xx and `okStatuses` resolve, anything else is a typed error. */
  private static getText(
    deps: Deps,
    url: URL,
    accept: string,
    what: string,
    headers: Record<string, string> = {},
    okStatuses: number[] = [],
  ): Promise<TextResponse> {
    const { transport, clock, logger, random } = deps;
    return withRetry(
      async () => {
        const res = await transport.get({ url, accept, gzip: true, headers });
        if ((res.status >= 200 && res.status < 300) || okStatuses.includes(res.status)) {
          return { status: res.status, headers: res.headers, text: await transport.readText(res, url) };
        }
        await transport.discard(res);
        throw errorForStatus(
          { status: res.status, method: 'GET', url: redactUrl(url) },
          res.headers,
          clock.now(),
        );
      },
      { clock, logger, what, random },
    );
  }
}
