// The one owner of "what must stay on this device": pins whole subtrees (items.pinned, inherited by new and moved
// items through the schema's triggers), and hydrates every pinned document whose current version is not complete
// and verified in the content cache, in the background: at mount, on pin, and when change sync brings a pinned
// item's new version or a new item into a pinned folder. A few documents at a time, each chunk after the
// foreground is quiet; offline it waits for the mount to come back online instead of failing.
import type { MetadataStore } from '../cache/metadata-store';
import { isLocalId } from '../cache/upload-journal';
import { errorMessage } from '../shared/errors';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import type { Connectivity } from './connectivity';
import type { ForegroundActivity } from './foreground-activity';
import type { Hydrator } from './hydrator';
import { itemPath } from './upload-status';

/** Documents hydrated at the same time. */
const DEFAULT_CONCURRENCY = 2;
/** A pinned document whose hydration failed (server error, cache full) is tried again after this long... */
const DEFAULT_RETRY_MS = 30_000;
/** ...doubling while every retry fails, up to this. */
const MAX_RETRY_MS = 10 * 60_000;

export interface PinManagerOptions {
  store: MetadataStore;
  hydrator: Pick<Hydrator, 'hydrateWhole'>;
  logger: Logger;
  connectivity?: Pick<Connectivity, 'online' | 'waitOnline'>;
  activity?: Pick<ForegroundActivity, 'quiet'>;
  concurrency?: number;
  retryMs?: number;
}

/** How far the pinned documents under some paths are from being all on this device. */
export interface PinProgress {
  files: number;
  filesDone: number;
  bytes: number;
  bytesDone: number;
  /** Documents whose last hydration failed (retried in the background), with the reason. */
  failed: Array<{ path: string; error: string }>;
  /** The mount is offline: hydration resumes once it is back. */
  offline: boolean;
}

export class PinManager {
  /** Documents to look at, in the order they came (a Set keeps insertion order and drops repeats). */
  private readonly queue = new Set<ItemId>();
  private readonly active = new Set<ItemId>();
  private readonly failures = new Map<ItemId, string>();
  private readonly abort = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private changed: Set<ItemId> | 'all' | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private stopped = false;

  constructor(private readonly o: PinManagerOptions) {
    this.retryMs = o.retryMs ?? DEFAULT_RETRY_MS;
  }

  /** Resumes the work of earlier mounts: every pinned document not hydrated yet. */
  start(): void {
    this.enqueue(this.o.store.pins.waiting());
  }

  /** Pins (or unpins) the item and everything under it; pinned documents are hydrated in the background. */
  setPinned(id: ItemId, pinned: boolean): void {
    const changed = this.o.store.pins.setTree(id, pinned);
    this.o.logger.info(
      { path: itemPath(this.o.store, id), pinned, items: changed },
      pinned ? 'pinned' : 'unpinned',
    );
    if (!pinned) return;
    const docs = this.o.store.pins.documentsUnder(id);
    for (const d of docs) this.failures.delete(d.id);
    this.enqueue(docs.filter((d) => needsContent(d)).map((d) => d.id));
  }

  /**
   * MetadataStore.onItemsChanged: a pinned item with a new version, or a new or moved item in a pinned folder
   * (already flagged by the triggers), is hydrated. Called right after a commit, so the work is deferred.
   */
  itemsChanged(ids: readonly ItemId[] | 'all'): void {
    if (this.stopped) return;
    const first = this.changed === undefined;
    if (ids === 'all') this.changed = 'all';
    else if (this.changed !== 'all') {
      this.changed ??= new Set();
      for (const id of ids) this.changed.add(id);
    }
    if (first) setImmediate(() => this.takeChanged());
  }

  /** Where the documents under these items stand (for `spfs pin`'s progress). */
  progress(roots: readonly ItemId[]): PinProgress {
    const p: PinProgress = { files: 0, filesDone: 0, bytes: 0, bytesDone: 0, failed: [], offline: false };
    const seen = new Set<ItemId>();
    for (const root of roots)
      for (const d of this.o.store.pins.documentsUnder(root)) {
        if (seen.has(d.id)) continue;
        seen.add(d.id);
        p.files++;
        p.bytes += d.size;
        if (!needsContent(d)) {
          p.filesDone++;
          p.bytesDone += d.size;
          continue;
        }
        p.bytesDone += Math.min(d.presentBytes, d.size);
        const error = this.failures.get(d.id);
        if (error !== undefined) p.failed.push({ path: itemPath(this.o.store, d.id), error });
      }
    p.offline = this.o.connectivity !== undefined && !this.o.connectivity.online;
    return p;
  }

  /** Stops hydrating (what arrived is kept; the next mount resumes). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.retryTimer);
    this.queue.clear();
    await Promise.allSettled([...this.running]);
  }

  private takeChanged(): void {
    const changed = this.changed;
    this.changed = undefined;
    if (this.stopped || changed === undefined) return;
    if (changed === 'all') return this.start();
    const { pins } = this.o.store;
    for (const id of changed)
      if (pins.isPinned(id))
        this.enqueue(
          pins
            .documentsUnder(id)
            .filter((d) => needsContent(d))
            .map((d) => d.id),
        );
  }

  private enqueue(ids: readonly ItemId[]): void {
    if (this.stopped) return;
    for (const id of ids) this.queue.add(id);
    this.pump();
  }

  private pump(): void {
    const limit = this.o.concurrency ?? DEFAULT_CONCURRENCY;
    for (const id of this.queue) {
      if (this.active.size >= limit || this.stopped) return;
      if (this.active.has(id)) continue; // comes back once the run in progress ends
      this.queue.delete(id);
      this.active.add(id);
      const run = this.hydrate(id).finally(() => {
        this.active.delete(id);
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async hydrate(id: ItemId): Promise<void> {
    const { store, connectivity, logger } = this.o;
    if (connectivity !== undefined && !connectivity.online) {
      logger.debug({ id }, 'pinned file waits for the server');
      await connectivity.waitOnline(this.abort.signal).catch(() => undefined);
      if (this.stopped) return;
    }
    // Read now, not when queued: the item may have moved on to another version or been unpinned meanwhile.
    const item = store.getItem(id);
    const wanted =
      item !== undefined &&
      item.kind === 'document' &&
      store.pins.isPinned(id) &&
      !hasLocalContent(store, id) &&
      store.cacheIndex.get(id, item.etag)?.verified !== true;
    if (!wanted) {
      this.failures.delete(id);
      return;
    }
    try {
      // Between chunks: stop() ends the download after the chunk in flight; foreground reads go first.
      await this.o.hydrator.hydrateWhole(item, async () => {
        this.abort.signal.throwIfAborted();
        await this.o.activity?.quiet();
      });
      this.failures.delete(id);
      this.retryMs = this.o.retryMs ?? DEFAULT_RETRY_MS;
      logger.debug({ path: itemPath(store, id), bytes: item.size }, 'pinned file hydrated');
    } catch (err) {
      if (this.stopped) return;
      if (connectivity !== undefined && !connectivity.online) {
        this.queue.add(id); // the next run waits for the server
        return;
      }
      const error = errorMessage(err);
      this.failures.set(id, error);
      logger.warn(
        { path: itemPath(store, id), err: error },
        'hydrating a pinned file failed; retrying later',
      );
      this.retryTimer ??= setTimeout(() => {
        this.retryTimer = undefined;
        this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
        this.enqueue([...this.failures.keys()]);
      }, this.retryMs);
      this.retryTimer.unref();
    }
  }
}

/** A document whose bytes are not all here: not verified, not empty, not local content (its copy is here). */
function needsContent(d: { verified: boolean; size: number; localContent: boolean }): boolean {
  return !d.verified && d.size > 0 && !d.localContent;
}

/** The item's bytes are a local copy waiting for upload (a move alone still needs the server's bytes). */
function hasLocalContent(store: MetadataStore, id: ItemId): boolean {
  return isLocalId(id) || store.journal.get(id)?.content === true;
}
