// The background uploader: sends the upload journal's changes after a settle delay, parents before children,
// retrying transient failures with backoff (honouring Retry-After) forever; conflicts keep both versions.
import type { ContentCache } from '../cache/content-cache';
import type { DirtyFiles } from '../cache/dirty-files';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import { isLocalId, type JournalEntry } from '../cache/upload-journal';
import { NotFoundError, ThrottledError, WriteRejectedError } from '../protocol/errors';
import type { FileSyncWriteApi, RemoteItem, WriteResult } from '../protocol/types';
import { errorMessage } from '../shared/errors';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { conflictName } from './conflict-name';
import type { Connectivity } from './connectivity';
import { planUploads, type BatchMember } from './upload-batch';
import { isPermanent, itemPath, matches, pendingUploads, type PendingUpload } from './upload-status';
import { toStoredItem } from './item-screen';

export const DEFAULT_WRITE_BACK_MS = 3000;
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5 * 60_000;
const IDLE_CHECK_MS = 30_000;
const CONCURRENCY = 8;

export interface UploaderOptions {
  api: FileSyncWriteApi;
  store: MetadataStore;
  dirty: DirtyFiles;
  cache: ContentCache;
  logger: Logger;
  /** Settle delay after the last change before an item is sent (`--write-back`). */
  writeBackMs?: number;
  /** Name of this machine, for conflict copies. */
  host: string;
  /** Whether a handle writes to the item now (it is sent after the writer closes). */
  busy: (id: ItemId) => boolean;
  /** Whether any handle has the item's local copy open (then it is not moved into the content cache). */
  isOpen: (id: ItemId) => boolean;
  /** Told when the server assigned an id (or a conflict moved the local version). */
  onRekey: (oldId: ItemId, newId: ItemId) => void;
  /**
   * The mount's online state: an unreachable server is reported to it, and after an outage uploads resume only once
   * it is online again — i.e. after the change enumeration caught up, so remote edits are known before ours go up.
   */
  connectivity?: Pick<Connectivity, 'online' | 'waitOnline' | 'reportFailure'>;
}

export type { PendingUpload } from './upload-status';

export class Uploader {
  private readonly writeBackMs: number;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private onStop: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Ignore the settle delay (flush/unmount asked). */
  private urgent = 0;
  private progressWaiters: Array<() => void> = [];
  /** The last attempt failed because the server could not be reached (or answered 5xx). */
  unreachable = false;

  constructor(private readonly o: UploaderOptions) {
    this.writeBackMs = o.writeBackMs ?? DEFAULT_WRITE_BACK_MS;
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    this.onStop?.();
    await this.loop;
  }

  /** A change was recorded: look again (after the settle delay). */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** Pending work, with paths, for `spfs status`. */
  pending(): PendingUpload[] {
    return pendingUploads(this.o.store);
  }

  /**
   * Waits until the entries under `paths` (or all) are on the server, or only permanent failures remain, or
   * `giveUp()` says so. The settle delay is skipped meanwhile. Resolves with what is still pending.
   */
  async drain(
    paths: readonly string[] | undefined,
    onProgress: (left: PendingUpload[]) => void,
    giveUp: () => boolean,
  ): Promise<PendingUpload[]> {
    this.urgent++;
    this.wake();
    try {
      for (;;) {
        const left = this.pending().filter((p) => matches(p.path, paths));
        onProgress(left);
        if (left.every((p) => p.permanent) || giveUp()) return left;
        await new Promise<void>((r) => {
          this.progressWaiters.push(r);
          setTimeout(r, 500);
        });
      }
    } finally {
      this.urgent--;
    }
  }

  private async run(): Promise<void> {
    const stopping = new AbortController();
    void new Promise<void>((r) => (this.onStop = r)).then(() => stopping.abort());
    while (!this.stopped) {
      const c = this.o.connectivity;
      if (c !== undefined && !c.online) {
        this.o.logger.info('offline: uploads wait until the change enumeration has caught up');
        await c.waitOnline(stopping.signal).catch(() => undefined);
        if (this.stopped) break;
      }
      const wait = await this.cycle().catch((err: unknown) => {
        this.o.logger.error({ err }, 'upload cycle failed');
        return FIRST_BACKOFF_MS;
      });
      this.notifyProgress();
      if (this.stopped) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, wait);
        this.wakeUp = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  /** One pass over the due entries; returns how long to sleep before the next. */
  private async cycle(): Promise<number> {
    const now = Date.now();
    const settle = this.urgent > 0 ? 0 : this.writeBackMs;
    let nextMs = IDLE_CHECK_MS;
    const due: JournalEntry[] = [];
    for (const e of this.o.store.journal.all()) {
      if (e.permanent) continue;
      const at = Math.max(e.changedMs + settle, e.nextTryMs);
      if (at > now) nextMs = Math.min(nextMs, at - now);
      else if (!this.o.busy(e.itemId) && this.ready(e)) due.push(e);
    }
    if (due.length === 0) return nextMs;
    // Deletes first (a rename may replace what they free), then small files in batches (one request per batch),
    // then the rest one at a time, a few requests in parallel.
    due.sort((a, b) => Number(b.deleted) - Number(a.deleted));
    const plan = planUploads(due, this.o.store, (id) => this.o.dirty.pathOf(id));
    const units: Array<() => Promise<void>> = [
      ...plan.singles.filter((e) => e.deleted).map((e) => () => this.attempt(e)),
      ...plan.batches.map((b) => () => this.sendBatch(b)),
      ...plan.singles.filter((e) => !e.deleted).map((e) => () => this.attempt(e)),
    ];
    let i = 0;
    const worker = async (): Promise<void> => {
      while (i < units.length && !this.stopped) {
        await (units[i++] as () => Promise<void>)();
        this.notifyProgress();
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, units.length) }, worker));
    return 0; // look again at once: children of new folders may be ready now
  }

  /** An item can go once its parent exists on the server. */
  private ready(e: JournalEntry): boolean {
    if (e.deleted) return true;
    const item = this.o.store.getItem(e.itemId);
    return item !== undefined && !isLocalId(item.parentId);
  }

  private async attempt(e: JournalEntry): Promise<void> {
    try {
      await this.send(e);
      this.unreachable = false;
    } catch (err) {
      this.failed(e, err);
    }
  }

  /** One request for many small files; an item the batch did not write goes again alone (conflicts, names). */
  private async sendBatch(members: BatchMember[]): Promise<void> {
    let results: WriteResult[];
    try {
      results = await this.o.api.writeBatch(members.map((m) => m.op));
      this.unreachable = false;
    } catch (err) {
      for (const m of members) this.failed(m.entry, err);
      return;
    }
    for (const [i, m] of members.entries()) {
      const r = results[i];
      if (r?.status !== 'Success') await this.attempt(m.entry);
      else
        try {
          this.finish(m.entry, m.item, r.item);
        } catch (err) {
          this.failed(m.entry, err);
        }
    }
  }

  /** Records a failed attempt: retried after backoff (or Retry-After), or kept for good when permanent. */
  private failed(e: JournalEntry, err: unknown): void {
    if (localSourceVanished(err)) {
      // The local copy was replaced or removed while it was being sent (git and editors rename over files all the
      // time): not the server's fault and not an outage. Look at the entry again at once; by then it says what to send.
      this.o.store.journal.fail(e.itemId, e.seq, errorMessage(err), false, Date.now());
      this.o.logger.debug(
        { path: this.pathOf(e.itemId) },
        'local copy changed during its upload; trying again',
      );
      return;
    }
    const permanent = isPermanent(err);
    this.unreachable = !permanent;
    if (!permanent) this.o.connectivity?.reportFailure(err);
    const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.min(e.attempts, 20));
    const retryAfter = err instanceof ThrottledError ? (err.retryAfterMs ?? 0) : 0;
    const reason = errorMessage(err);
    this.o.store.journal.fail(e.itemId, e.seq, reason, permanent, Date.now() + Math.max(backoff, retryAfter));
    const path = this.pathOf(e.itemId);
    if (permanent) this.o.logger.error({ path, reason }, `upload refused for good; kept locally: ${path}`);
    else this.o.logger.warn({ path, reason, attempt: e.attempts + 1 }, `upload failed; will retry: ${path}`);
  }

  private async send(e: JournalEntry): Promise<void> {
    const { api, store, journal } = { api: this.o.api, store: this.o.store, journal: this.o.store.journal };
    if (e.deleted) {
      if (e.baseEtag !== undefined) {
        try {
          await api.delete({ id: e.itemId, etag: e.baseEtag, kind: e.kind });
        } catch (err) {
          if (err instanceof WriteRejectedError && err.status === 'Conflict') {
            // Edited on the server after we saw it: the edit wins; show the server's version again.
            this.o.logger.warn(
              { id: e.itemId },
              'deleted locally but edited on the server: keeping the edit',
            );
            const current = err.current ?? (await api.item(e.itemId));
            store.transaction(() => {
              journal.forget(e.itemId);
              if (store.getItem(current.parentId) !== undefined)
                store.applyBatch([toStoredItem(current)], []);
            });
            return;
          }
          if (
            !(err instanceof NotFoundError) &&
            !(err instanceof WriteRejectedError && err.status === 'NotFound')
          )
            throw err;
        }
      }
      journal.complete(e.itemId, e.seq);
      return;
    }
    const item = store.getItem(e.itemId);
    if (item === undefined) {
      journal.forget(e.itemId);
      return;
    }
    const source = { path: this.o.dirty.pathOf(item.id) };
    let remote: RemoteItem;
    if (isLocalId(item.id)) {
      remote = await this.createNew(item, source);
    } else {
      const ref = { id: item.id, etag: e.baseEtag ?? item.etag, kind: item.kind };
      remote = await api.item(item.id).catch(async (err: unknown) => {
        if (err instanceof NotFoundError) return this.createNew(item, source, true);
        throw err;
      });
      if (remote.id === item.id) {
        if (remote.parentId !== item.parentId || remote.name !== item.name) {
          remote = await api.move({ ...ref, etag: remote.etag }, item.parentId, item.name);
          if (!e.content) ref.etag = remote.etag;
        }
        if (e.content) {
          try {
            remote = await api.updateFile(ref, source);
          } catch (err) {
            if (err instanceof WriteRejectedError && err.status === 'Conflict')
              return this.keepBoth(e, item, err);
            throw err;
          }
        }
      }
    }
    this.finish(e, item, remote);
  }

  private async createNew(item: StoredItem, source: { path: string }, recreate = false): Promise<RemoteItem> {
    if (recreate)
      this.o.logger.warn({ id: item.id }, 'deleted on the server but edited here: uploading it again');
    if (item.kind === 'folder') {
      try {
        return await this.o.api.createFolder(item.parentId, item.name);
      } catch (err) {
        // The server already has a folder of that name: ours merges into it.
        if (
          err instanceof WriteRejectedError &&
          err.status === 'NameConflict' &&
          err.current?.kind === 'folder'
        )
          return err.current;
        throw err;
      }
    }
    try {
      return await this.o.api.createFile(item.parentId, item.name, source);
    } catch (err) {
      if (!(err instanceof WriteRejectedError && err.status === 'NameConflict')) throw err;
      const name = conflictName(item.name, this.o.host, new Date());
      this.o.logger.warn(
        { path: this.pathOf(item.id), copy: name },
        'the server has another file of this name: uploading ours as a conflict copy',
      );
      const copy = await this.o.api.createFile(item.parentId, name, source);
      this.o.store.putLocalItem({ ...item, name });
      return copy;
    }
  }

  /** Conflict: the server's version stays under the name, ours goes next to it under a conflict name. */
  private async keepBoth(e: JournalEntry, item: StoredItem, err: WriteRejectedError): Promise<void> {
    const name = conflictName(item.name, this.o.host, new Date());
    const copy = await this.o.api.createFile(item.parentId, name, { path: this.o.dirty.pathOf(item.id) });
    const current = err.current ?? (await this.o.api.item(item.id));
    const { store } = this.o;
    store.transaction(() => {
      store.journal.forget(item.id);
      store.putLocalItem({ ...toStoredItem(current), parentId: item.parentId, name: item.name });
      store.putLocalItem({ ...toStoredItem(copy), parentId: item.parentId });
    });
    this.keepContent(item.id, copy, e.size);
    this.o.logger.warn(
      { path: this.pathOf(item.id), copy: name },
      `conflict: ${item.name} changed on the server too; kept both (ours is "${name}")`,
    );
  }

  /** Success: the item takes the server's id and ETag; our bytes become its cached content. */
  private finish(e: JournalEntry, item: StoredItem, remote: RemoteItem): void {
    const { store } = this.o;
    if (remote.id !== item.id) {
      this.o.dirty.rename(item.id, remote.id);
      store.rekeyItem(item.id, remote.id);
      this.o.onRekey(item.id, remote.id);
    }
    const now = store.getItem(remote.id) ?? item;
    const done = store.transaction(() => {
      store.putLocalItem({ ...toStoredItem(remote), parentId: now.parentId, name: now.name });
      const j = store.journal.get(remote.id);
      if (j === undefined || j.seq === e.seq) {
        store.journal.forget(remote.id);
        return true;
      }
      // Changed again meanwhile: the next upload is based on what we just sent.
      store.journal.put({
        ...j,
        baseEtag: remote.etag,
        remoteParent: remote.parentId,
        remoteName: remote.name,
      });
      return false;
    });
    if (done && item.kind === 'document') this.keepContent(remote.id, remote, e.size);
  }

  /** Moves the uploaded local copy into the content cache (unless open or rewritten by the server). */
  private keepContent(localId: ItemId, remote: RemoteItem, size: number): void {
    if (this.o.isOpen(localId) || !this.o.dirty.exists(localId)) return;
    if (remote.size !== size) {
      this.o.dirty.remove(localId);
      return;
    }
    try {
      this.o.cache.adopt(remote.id, remote.etag, this.o.dirty.pathOf(localId), size);
    } catch (err) {
      this.o.logger.warn({ err, id: remote.id }, 'could not keep the uploaded copy in the cache');
      this.o.dirty.remove(localId);
    }
  }

  private notifyProgress(): void {
    const ws = this.progressWaiters;
    this.progressWaiters = [];
    for (const w of ws) w();
  }

  /** Library-relative path of an item, for logs and status. */
  pathOf(id: ItemId | undefined): string {
    return itemPath(this.o.store, id);
  }
}

/** True when the error comes from reading a local source file that no longer exists (ENOENT anywhere in the causes). */
function localSourceVanished(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
  }
  return false;
}
