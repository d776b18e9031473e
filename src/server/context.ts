// What every handler receives: the server-wide context (store, identity, settings) and the per-request exchange.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../shared/clock';
import type { DataPlaneSettings } from './data-plane-settings';
import type { Logger } from '../shared/logger';
import type { ServerFaults } from './faults';
import type { Query, ResponseStats } from './http-util';
import type { LibraryMeta, Store } from './store';
import type { SubscriptionRegistry } from './subscriptions';

export interface ServerContext {
  /** The site this library belongs to: `personal/<alias>` or `sites/<name>`. */
  site: string;
  store: Store;
  meta: LibraryMeta;
  clock: Clock;
  logger: Logger;
  spaceGrantedBytes: number;
  /** Default and policy page size of change enumeration (policy `ItemCount`). */
  itemCount: number;
  maxFileSizeBytes: number;
  inlineUploadThresholdBytes: number;
  pollingIntervalSeconds: number;
  faults: ServerFaults;
  /** Write policy, upload-session expiry, change-log retention; absent fields take DEFAULT_DATA_PLANE. */
  dataPlane?: Partial<DataPlaneSettings>;
  /**
   * Call once after every committed change to this library: wakes the E11 notification channels of every
   * subscription except `exceptSubscriptionId` (the writer's `X-SubscriptionIdToNotNotify`).
   */
  notifyChange(exceptSubscriptionId?: string): void;
  /** E11 subscriptions of this library (in memory). */
  subscriptions: SubscriptionRegistry;
}

export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  query: Query;
  /** The authenticated user's configured name. */
  user: string;
  origin: string;
  /** `{origin}/personal/<alias>` or `{origin}/sites/<name>` of the library this request uses (no trailing slash). */
  siteUrl: string;
  stats: ResponseStats & { range?: string };
  /** Fault injection (`etag-conflict`): the write path answers this request's ETag checks with a conflict. */
  forceETagConflict?: boolean;
}

export type Handler = (ctx: ServerContext, ex: Exchange) => Promise<void>;
