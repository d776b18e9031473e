// The background uploader: sends the upload journal's changes after a settle delay, parents before children,
// retrying transient failures with backoff (honouring Retry-After) forever; conflicts keep both versions.
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import { isLocalId, type JournalEntry } from '../cache/upload-journal';
import { localSourceChange, NotFoundError, ThrottledError, WriteRejectedError } from '../protocol/errors';
import type { FileSyncWriteApi, RemoteItem, WriteResult } from '../protocol/types';
import { errorMessage } from '../shared/errors';
import { LocalCopyMissingError, OwnVersionConflictError } from './errors';
import type { ETag, ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { conflictName } from './conflict-name';
import type { Connectivity } from './connectivity';
import { batchDeletes, planUploads, type BatchMember } from './upload-batch';
import { planDeletes, type ServerPlaces } from './upload-order';
import {
  isPermanent,
  itemPath,
  matches,
  pendingUploads,
  queueSummary,
  summarise,
  type PendingUpload,
  type QueueSummary,
} from './upload-status';
import { toStoredItem } from './item-screen';
import { foldName } from '../shared/names';

/** What the uploader needs from the owner of local copies (src/vfs/local-files.ts). */
export interface UploadSources {
  /** Whether a handle writes to the item now (it is sent after the last writer closes). */
  busy(id: ItemId): boolean;
  /** Path of the item's local copy, or undefined when it has none. */
  sourceOf(id: ItemId): string | undefined;
  /**
   * The server has `owner`'s copy as `remote` (size `size`): keep it as that version's cached content. `created`:
   * the upload made the document (a create, not a new version of one).
   */
  uploaded(owner: ItemId, remote: RemoteItem, size: number, created: boolean): void;
  /** The item's row took the server's id: follow it in memory. */
  rekey(oldId: ItemId, newId: ItemId): void;
}

export const DEFAULT_WRITE_BACK_MS = 3000;
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5 * 60_000;
const IDLE_CHECK_MS = 30_000;
const CONCURRENCY = 8;
/** A drain looks at what is left at most this often (see drain). */
const DRAIN_LOOK_MS = 200;

export interface UploaderOptions {
  api: FileSyncWriteApi;
  store: MetadataStore;
  copies: UploadSources;
  logger: Logger;
  /** Settle delay after the last change before an item is sent (`--write-back`). */
  writeBackMs?: number;
  /** Name of this machine, for conflict copies. */
  host: string;
  /**
   * The mount's online state: an unreachable server is reported to it, and after an outage uploads resume only once
   * it is online again — i.e. after the change enumeration caught up, so remote edits are known before ours go up.
   */
  connectivity?: Pick<Connectivity, 'online' | 'waitOnline' | 'reportFailure'>;
}

export type { PendingUpload, QueueSummary } from './upload-status';

export class Uploader {
  private readonly writeBackMs: number;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  /** A wake that came while a cycle ran (nobody asleep to wake): the loop looks again instead of sleeping. */
  private wokenMeanwhile = false;
  private onStop: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Ignore the settle delay (flush/unmount asked). */
  private urgent = 0;
  private progressWaiters: Array<() => void> = [];
  /** Items with a request in flight now (counted: a batch and a single attempt may overlap), for isSending. */
  private readonly inFlight = new Map<ItemId, number>();

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
    if (w !== undefined) w();
    else this.wokenMeanwhile = true;
  }

  /** Whether a request for this item is in flight right now (user.spfs.state `uploading`). */
  isSending(id: ItemId): boolean {
    return this.inFlight.has(id);
  }

  /** Pending work, with paths, for `spfs status`. */
  pending(): PendingUpload[] {
    return pendingUploads(this.o.store);
  }

  /** The queue's totals and its first `limit` entries (`spfs status`: a queue of 100,000 files is not listed whole). */
  summary(limit: number): QueueSummary {
    return queueSummary(this.o.store, limit);
  }

  /**
   * Waits until the entries under `paths` (or all) are on the server, or only permanent failures remain, or
   * `giveUp()` says so. The settle delay is skipped meanwhile. Resolves with what is still pending: counted whole,
   * at most `limit` entries listed. Progress is looked at after uploads finish, at most every DRAIN_LOOK_MS: a
   * look at a backlog of thousands once per finished upload starved the uploads it waited for.
   */
  async drain(
    paths: readonly string[] | undefined,
    onProgress: (left: QueueSummary) => void,
    giveUp: () => boolean,
    limit = Number.MAX_SAFE_INTEGER,
  ): Promise<QueueSummary> {
    this.urgent++;
    this.wake();
    const whole = paths === undefined || paths.length === 0;
    try {
      for (;;) {
        const lookedAt = Date.now();
        const left = whole
          ? this.summary(limit)
          : summarise(
              this.pending().filter((p) => matches(p.path, paths)),
              limit,
            );
        onProgress(left);
        if (left.files === left.permanent || giveUp()) return left;
        await new Promise<void>((r) => {
          this.progressWaiters.push(r);
          setTimeout(r, 500);
        });
        const since = Date.now() - lookedAt;
        if (since < DRAIN_LOOK_MS) await new Promise((r) => setTimeout(r, DRAIN_LOOK_MS - since));
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
      this.wokenMeanwhile = false;
      const wait = await this.cycle().catch((err: unknown) => {
        this.o.logger.error({ err }, 'upload cycle failed');
        return FIRST_BACKOFF_MS;
      });
      this.notifyProgress();
      if (this.stopped) break;
      // A change recorded, or a flush asked for, while the cycle ran: its `wait` was worked out before them (up to
      // IDLE_CHECK_MS, or the settle delay the flush skips), so look again now.
      if (this.wokenMeanwhile && wait > 0) continue;
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
    // Every local change wakes the loop: what is not due yet is found by SQLite, without a row each in JS.
    const due = this.o.store.journal.due(now, settle).filter((e) => !this.o.copies.busy(e.itemId));
    const next = this.o.store.journal.nextDueMs(now, settle);
    const nextMs = next === undefined ? IDLE_CHECK_MS : Math.min(IDLE_CHECK_MS, next - now);
    if (due.length === 0) return nextMs;
    // Deletes go first and alone: they free names that creates and moves in this cycle may take (git replaces files
    // by unlink + create all the time; racing them would make the server refuse the create as a name conflict).
    // A folder delete waits while something inside it on the server has moved away here (upload-order.ts).
    const journal = this.o.store.journal.all();
    const { free, blocked } = planDeletes(due, journal, this.places(journal));
    if (free.length > 0) {
      const deletes = batchDeletes(free);
      await this.runUnits([
        ...deletes.batches.map((b) => () => this.sendDeletes(b)),
        ...deletes.singles.map((e) => () => this.attempt(e)),
      ]);
      return 0;
    }
    const held = this.heldNames(journal);
    const ready = due.filter((e) => this.ready(e, held));
    // A move waiting for a name that only a waiting folder delete holds (`mv D/x t; rmdir D; mv t D`) would wait
    // forever: it goes first under a temporary name; the delete follows, then the rename to its final name.
    const blockers = new Set(blocked.map((b) => b.del.itemId));
    const dueIds = new Set(due.map((e) => e.itemId));
    const aside = blocked
      .flatMap((b) => b.moves)
      .filter((x) => dueIds.has(x.itemId) && this.waitsFor(x, held, blockers));
    if (ready.length === 0 && aside.length === 0) return due.length > 0 ? FIRST_BACKOFF_MS : nextMs;
    // Small files in batches (one request per batch), then the rest one at a time, a few requests in parallel.
    const plan = planUploads(ready, this.o.store, (id) => this.o.copies.sourceOf(id));
    await this.runUnits([
      ...aside.map((e) => () => this.moveAside(e)),
      ...plan.batches.map((b) => () => this.sendBatch(b)),
      ...plan.singles.map((e) => () => this.attempt(e)),
    ]);
    return 0; // look again at once: children of new folders may be ready now
  }

  /** Where the server has items, as far as this mount knows: the journal's record, else the local tree. */
  private places(journal: readonly JournalEntry[]): ServerPlaces {
    const byId = new Map(journal.map((e) => [e.itemId, e]));
    return {
      serverParentOf: (id) => byId.get(id)?.remoteParent ?? this.o.store.getItem(id)?.parentId,
      movedAway: (e) => this.movedAway(e),
    };
  }

  /** Whether the entry's item waits for a server name that one of `holders` keeps. */
  private waitsFor(
    e: JournalEntry,
    held: ReadonlyMap<string, ItemId>,
    holders: ReadonlySet<ItemId>,
  ): boolean {
    const item = this.o.store.getItem(e.itemId);
    if (item === undefined || isLocalId(item.parentId)) return false;
    const holder = held.get(slotKey(item.parentId, item.name));
    return holder !== undefined && holder !== e.itemId && holders.has(holder);
  }

  /** Moves an item to its new folder under a temporary name (see cycle); the journal then says it is there. */
  private async moveAside(e: JournalEntry): Promise<void> {
    const { api, store } = this.o;
    const item = store.getItem(e.itemId);
    if (item === undefined) return;
    const done = this.sending([item.id]);
    try {
      const remote = await api.item(item.id);
      const name = `${item.name}.spfs-moving-${item.id.slice(0, 8)}`;
      const moved = await api.move({ id: item.id, etag: remote.etag, kind: item.kind }, item.parentId, name);
      store.transaction(() => {
        const j = store.journal.get(item.id);
        if (j === undefined) return;
        // Our move made the server's new version; a base that was current stays current.
        const baseEtag = j.baseEtag === remote.etag ? moved.etag : j.baseEtag;
        store.journal.put({ ...j, baseEtag, remoteParent: moved.parentId, remoteName: moved.name });
      });
    } catch (err) {
      this.failed(e, err);
    } finally {
      done();
    }
  }

  /** Marks items as sent until the returned function is called. */
  private sending(ids: readonly ItemId[]): () => void {
    for (const id of ids) this.inFlight.set(id, (this.inFlight.get(id) ?? 0) + 1);
    return () => {
      for (const id of ids) {
        const n = (this.inFlight.get(id) ?? 1) - 1;
        if (n > 0) this.inFlight.set(id, n);
        else this.inFlight.delete(id);
      }
    };
  }

  private async runUnits(units: ReadonlyArray<() => Promise<void>>): Promise<void> {
    let i = 0;
    const worker = async (): Promise<void> => {
      while (i < units.length && !this.stopped) {
        await (units[i++] as () => Promise<void>)();
        this.notifyProgress();
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, units.length) }, worker));
  }

  /**
   * An item can go once its parent exists on the server and the name it takes there is free: no other pending
   * change still holds that name on the server (a delete, or a move away from it, that has not gone up yet).
   */
  private ready(e: JournalEntry, held: ReadonlyMap<string, ItemId>): boolean {
    const item = this.o.store.getItem(e.itemId);
    if (item === undefined || isLocalId(item.parentId)) return false;
    if (e.remoteParent === item.parentId && e.remoteName === item.name) return true;
    const holder = held.get(slotKey(item.parentId, item.name));
    return holder === undefined || holder === e.itemId;
  }

  /** Server names (parent + folded name) that pending deletes and moves still hold, and by which item. */
  private heldNames(journal: readonly JournalEntry[]): Map<string, ItemId> {
    const held = new Map<string, ItemId>();
    for (const o of journal) {
      if (o.permanent || o.remoteParent === undefined || o.remoteName === undefined) continue;
      if (o.deleted || this.movedAway(o)) held.set(slotKey(o.remoteParent, o.remoteName), o.itemId);
    }
    return held;
  }

  /** Whether a pending entry's item is no longer where the server has it. */
  private movedAway(o: JournalEntry): boolean {
    const now = this.o.store.getItem(o.itemId);
    return (
      now === undefined ||
      now.parentId !== o.remoteParent ||
      foldName(now.name) !== foldName(o.remoteName ?? '')
    );
  }

  private async attempt(e: JournalEntry): Promise<void> {
    const done = this.sending([e.itemId]);
    try {
      await this.send(e);
    } catch (err) {
      this.failed(e, err);
    } finally {
      done();
    }
  }

  /** One request for many small files; an item the batch did not write goes again alone (conflicts, names). */
  private async sendBatch(members: BatchMember[]): Promise<void> {
    let results: WriteResult[];
    const done = this.sending(members.map((m) => m.item.id));
    try {
      this.o.store.transaction(() => {
        for (const m of members)
          if (m.op.op === 'createFile') this.o.store.journal.markSent(m.item.id, m.op.parentId, m.op.name);
      });
      results = await this.o.api.writeBatch(members.map((m) => m.op));
    } catch (err) {
      for (const m of members) this.failed(m.entry, err);
      return;
    } finally {
      done();
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

  /**
   * One request deletes many items the server has (at their base ETags): an `rm -rf` or a `git checkout` costs a
   * request per hundred files. Gone already is done; any other answer (edited on the server since: Conflict) sends
   * that one again alone, where the delete-versus-edit rule is applied.
   */
  private async sendDeletes(entries: JournalEntry[]): Promise<void> {
    let results: WriteResult[];
    const done = this.sending(entries.map((e) => e.itemId));
    try {
      results = await this.o.api.writeBatch(
        entries.map((e) => ({
          op: 'delete',
          item: { id: e.itemId, etag: e.baseEtag as ETag, kind: e.kind },
        })),
      );
    } catch (err) {
      for (const e of entries) this.failed(e, err);
      return;
    } finally {
      done();
    }
    for (const [i, e] of entries.entries()) {
      const status = results[i]?.status;
      if (status === 'Success' || status === 'NotFound') this.o.store.journal.complete(e.itemId, e.seq);
      else await this.attempt(e);
    }
  }

  /** Records a failed attempt: retried after backoff (or Retry-After), or kept for good when permanent. */
  private failed(e: JournalEntry, err: unknown): void {
    if (localSourceVanished(err)) {
      // The local copy was replaced, written or removed while it was being sent (git and editors rename over files all the
      // time): not the server's fault and not an outage. Look at the entry again at once; by then it says what to send.
      this.o.store.journal.fail(e.itemId, e.seq, errorMessage(err), false, Date.now());
      this.o.logger.debug(
        { path: this.pathOf(e.itemId) },
        'local copy changed during its upload; trying again',
      );
      return;
    }
    const permanent = isPermanent(err);
    // Connectivity alone decides whether this means offline (a 5xx does not); the uploader keeps no such state.
    if (!permanent) this.o.connectivity?.reportFailure(err);
    const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.min(e.attempts, 20));
    const retryAfter = err instanceof ThrottledError ? (err.retryAfterMs ?? 0) : 0;
    const reason = errorMessage(err);
    this.o.store.journal.fail(e.itemId, e.seq, reason, permanent, Date.now() + Math.max(backoff, retryAfter));
    const path = this.pathOf(e.itemId);
    if (permanent) this.o.logger.error({ path, reason }, `upload refused for good; kept locally: ${path}`);
    else this.o.logger.warn({ path, reason, attempt: e.attempts + 1 }, `upload failed; will retry: ${path}`);
  }

  private async send(planned: JournalEntry): Promise<void> {
    const { api, store } = this.o;
    const journal = store.journal;
    // The cycle planned from a snapshot; the item may have changed since (an unlink turns it into a delete).
    const e = journal.get(planned.itemId);
    if (e === undefined) return;
    // pathOf walks the parents in SQLite: only when someone reads debug lines.
    if (this.o.logger.isLevelEnabled('debug'))
      this.o.logger.debug(
        {
          id: e.itemId,
          seq: e.seq,
          deleted: e.deleted,
          content: e.content,
          base: e.baseEtag,
          sentTo: e.sentTo,
        },
        `upload: ${this.pathOf(e.itemId)}`,
      );
    if (e.deleted) {
      if (e.baseEtag !== undefined) {
        try {
          await api.delete({ id: e.itemId, etag: e.baseEtag, kind: e.kind });
        } catch (err) {
          if (err instanceof WriteRejectedError && err.status === 'Conflict') {
            const current = err.current ?? (await api.item(e.itemId));
            // Still the version we deleted (a folder's ETag never changes), or ours: nobody else edited it.
            if (!this.ours(current) && current.etag !== e.baseEtag) {
              // Edited on the server after we saw it: the edit wins; show the server's version again.
              this.o.logger.warn(
                { id: e.itemId },
                'deleted locally but edited on the server: keeping the edit',
              );
              store.transaction(() => {
                journal.forget(e.itemId);
                if (store.getItem(current.parentId) !== undefined)
                  store.applyBatch([toStoredItem(current)], []);
              });
              return;
            }
            // The newer version is our own (an upload whose reply we never recorded): delete that one.
            await api.delete({ id: e.itemId, etag: current.etag, kind: e.kind });
          } else if (
            !(err instanceof NotFoundError) &&
            !(err instanceof WriteRejectedError && err.status === 'NotFound')
          )
            throw err;
        }
      } else {
        // Deleted before its create was confirmed: what that create made, if anything, goes too.
        const orphan = await this.ownOrphan(e);
        if (orphan !== undefined) await api.delete({ id: orphan.id, etag: orphan.etag, kind: orphan.kind });
      }
      journal.complete(e.itemId, e.seq);
      return;
    }
    const item = store.getItem(e.itemId);
    if (item === undefined) {
      journal.complete(e.itemId, e.seq); // a row without its item (nothing to send); a newer change keeps it
      return;
    }
    let remote: RemoteItem;
    if (isLocalId(item.id)) {
      remote = await this.createNew(item);
    } else {
      remote = await api.item(item.id).catch(async (err: unknown) => {
        if (err instanceof NotFoundError) return this.createNew(item, true);
        throw err;
      });
      if (remote.id === item.id) {
        // A server version newer than our base that we wrote ourselves (killed between the server's reply and our
        // commit) is our base: only someone else's change is a conflict.
        let base = e.baseEtag ?? item.etag;
        if (remote.etag !== base && this.ours(remote)) base = remote.etag;
        if (remote.parentId !== item.parentId || remote.name !== item.name) {
          const before = remote.etag;
          remote = await api.move(
            { id: item.id, etag: remote.etag, kind: item.kind },
            item.parentId,
            item.name,
          );
          if (base === before) base = remote.etag; // the move made the new version; the content goes on top
        }
        if (e.content) {
          try {
            remote = await api.updateFile({ id: item.id, etag: base, kind: item.kind }, this.source(item));
          } catch (err) {
            if (!(err instanceof WriteRejectedError && err.status === 'Conflict')) throw err;
            // Only someone else's version is a conflict: ours, or still our base (a spurious refusal), is tried again.
            const current = err.current ?? (await api.item(item.id));
            if (this.ours(current) || current.etag === base)
              throw new OwnVersionConflictError(this.pathOf(item.id));
            return this.keepBoth(e, item, err);
          }
        }
      }
    }
    this.finish(e, item, remote);
  }

  /** Whether the server's version was written by this installation (our X-CustomIdentity). */
  private ours(remote: RemoteItem): boolean {
    return remote.modifierIdentity !== undefined && remote.modifierIdentity === this.o.api.customIdentity;
  }

  /** The local copy an upload of `item` sends. */
  private source(item: StoredItem): { path: string } {
    const path = this.o.copies.sourceOf(item.id);
    if (path === undefined) throw new LocalCopyMissingError(this.pathOf(item.id));
    return { path };
  }

  private async createNew(item: StoredItem, recreate = false): Promise<RemoteItem> {
    if (recreate)
      this.o.logger.warn({ id: item.id }, 'deleted on the server but edited here: uploading it again');
    const { api, store } = this.o;
    if (isLocalId(item.id)) {
      const earlier = await this.earlierCreate(item);
      if (earlier !== undefined) return earlier;
      store.journal.markSent(item.id, item.parentId, item.name);
    }
    if (item.kind === 'folder') {
      try {
        return await api.createFolder(item.parentId, item.name);
      } catch (err) {
        if (!(err instanceof WriteRejectedError && err.status === 'NameConflict')) throw err;
        // The server already has a folder of that name: ours merges into it.
        const found = err.current ?? (await this.holderOf(item.parentId, item.name));
        if (found?.kind === 'folder') return found;
        throw err;
      }
    }
    const source = this.source(item);
    try {
      return await api.createFile(item.parentId, item.name, source);
    } catch (err) {
      if (!(err instanceof WriteRejectedError && err.status === 'NameConflict')) throw err;
      const found = err.current ?? (await this.holderOf(item.parentId, item.name));
      if (found?.kind === 'document' && this.ours(found) && !store.journal.hasPendingChange(found.id)) {
        // Our own create whose reply we never recorded (killed in between): that document is this item. Our bytes go
        // on top of it (they may have changed since).
        this.o.logger.info({ path: this.pathOf(item.id), id: found.id }, 'adopting our own earlier upload');
        return api.updateFile({ id: found.id, etag: found.etag, kind: 'document' }, source);
      }
      const name = conflictName(item.name, this.o.host, new Date());
      this.o.logger.warn(
        { path: this.pathOf(item.id), copy: name },
        'the server has another file of this name: uploading ours as a conflict copy',
      );
      // Renamed and recorded first: a kill before the reply leaves a create of the copy to adopt, not to repeat.
      store.transaction(() => {
        store.putLocalItem({ ...item, name });
        store.journal.markSent(item.id, item.parentId, name);
      });
      store.announce([item.id], [item.parentId]); // the kernel still has it (and its folder's listing) under its old name
      return api.createFile(item.parentId, name, source);
    }
  }

  /**
   * A create of this new item was sent before (the journal's sentTo) and its reply never recorded: what of ours the
   * server made there is this item. It is adopted, moved to where the item is now, and gets the current bytes.
   */
  private async earlierCreate(item: StoredItem): Promise<RemoteItem | undefined> {
    const found = await this.ownOrphan(this.o.store.journal.get(item.id));
    if (found === undefined || found.kind !== item.kind) return undefined;
    const { api } = this.o;
    this.o.logger.info({ path: this.pathOf(item.id), id: found.id }, 'adopting our own earlier create');
    let remote = found;
    if (remote.parentId !== item.parentId || remote.name !== item.name)
      remote = await api.move(
        { id: remote.id, etag: remote.etag, kind: item.kind },
        item.parentId,
        item.name,
      );
    if (item.kind === 'document')
      remote = await api.updateFile(
        { id: remote.id, etag: remote.etag, kind: 'document' },
        this.source(item),
      );
    return remote;
  }

  /** The server item at the entry's sentTo that we made and this mount does not know, if there is one. */
  private async ownOrphan(e: JournalEntry | undefined): Promise<RemoteItem | undefined> {
    const sent = e?.sentTo;
    if (sent === undefined) return undefined;
    const found = await this.holderOf(sent.parentId, sent.name).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined; // its folder is gone: so is what was made in it
      throw err;
    });
    const { store } = this.o;
    if (found === undefined || !this.ours(found)) return undefined;
    if (store.getItem(found.id) !== undefined || store.journal.hasPendingChange(found.id)) return undefined;
    return found;
  }

  /** The server's item holding `name` in the folder (a NameConflict answer need not name it). */
  private async holderOf(parentId: ItemId, name: string): Promise<RemoteItem | undefined> {
    const key = foldName(name);
    for (let offset = 0; ;) {
      const page = await this.o.api.children(parentId, { foldersOnly: false, offset, count: 500, depth: 0 });
      const hit = page.items.find((i) => !i.deleted && i.parentId === parentId && foldName(i.name) === key);
      if (hit !== undefined || !page.hasMore || page.items.length === 0) return hit;
      offset += page.items.length;
    }
  }

  /** Conflict: the server's version stays under the name, ours goes next to it under a conflict name. */
  private async keepBoth(e: JournalEntry, item: StoredItem, err: WriteRejectedError): Promise<void> {
    const { api, store } = this.o;
    // A copy made before a kill lost its reply (recorded in sentTo first) is this copy: it gets our bytes again.
    let copy = await this.ownOrphan(store.journal.get(item.id));
    const name = copy?.name ?? conflictName(item.name, this.o.host, new Date());
    if (copy?.kind === 'document') {
      copy = await api.updateFile({ id: copy.id, etag: copy.etag, kind: 'document' }, this.source(item));
    } else {
      store.journal.markSent(item.id, item.parentId, name);
      copy = await api.createFile(item.parentId, name, this.source(item));
    }
    const current = err.current ?? (await api.item(item.id));
    store.transaction(() => {
      store.journal.forget(item.id);
      store.putLocalItem({ ...toStoredItem(current), parentId: item.parentId, name: item.name });
      store.putLocalItem({ ...toStoredItem(copy), parentId: item.parentId });
    });
    // The name now shows the server's version; the copy's name is new in the folder's listing.
    store.announce([item.id, copy.id], [item.parentId]);
    this.o.copies.uploaded(item.id, copy, e.size, false);
    this.o.logger.warn(
      { path: this.pathOf(item.id), copy: name },
      `conflict: ${item.name} changed on the server too; kept both (ours is "${name}")`,
    );
  }

  /**
   * Success: one transaction gives the item the server's id, ETag and place and closes the journal row (or rebases
   * it when the item changed again meanwhile); then our bytes become the version's cached content.
   */
  private finish(e: JournalEntry, item: StoredItem, remote: RemoteItem): void {
    const { store } = this.o;
    this.o.logger.info({ id: remote.id, etag: remote.etag, bytes: e.size }, 'upload done');
    this.o.logger.debug({ id: item.id, path: this.pathOf(item.id), seq: e.seq }, 'uploaded');
    const done = store.transaction(() => {
      if (store.getItem(item.id) === undefined) {
        // Removed here while its upload ran (unlinked, or a save renamed another file over it): what the server
        // just made is an orphan, so it goes too.
        if (remote.id !== item.id) store.journal.recordDelete(toStoredItem(remote));
        return false;
      }
      if (remote.id !== item.id) store.rekeyItem(item.id, remote.id);
      const now = store.getItem(remote.id) ?? item;
      const j = store.journal.get(remote.id);
      const finished = j === undefined || j.seq === e.seq;
      if (finished) {
        // Our own bytes went up: the file keeps the mtime it had here. The server's is the time of the upload, and
        // an editor that read the file before the upload finished would take the jump for another program's save
        // (vim -es waited on "The file has been changed since reading it!!!" in write-path-apps, under load).
        const server = toStoredItem(remote);
        store.putLocalItem(item.kind === 'document' ? { ...server, modifiedMs: now.modifiedMs } : server);
        store.journal.forget(remote.id);
        return true;
      }
      // Changed again while this upload ran (written, resized, moved): the row keeps what the local copy and tree
      // say (its size above all: a kill before the next upload must not show the new bytes cut to the old length)
      // and only learns the server's version, the base of the next upload.
      store.putLocalItem({ ...now, id: remote.id, etag: remote.etag });
      store.journal.put({
        ...j,
        baseEtag: remote.etag,
        remoteParent: remote.parentId,
        remoteName: remote.name,
        sentTo: undefined,
      });
      return false;
    });
    if (remote.id !== item.id) this.o.copies.rekey(item.id, remote.id);
    if (done && item.kind === 'document')
      this.o.copies.uploaded(remote.id, remote, e.size, remote.id !== item.id);
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

function slotKey(parentId: ItemId, name: string): string {
  return `${parentId}/${foldName(name)}`;
}

/** True when the error comes from reading a local source file that no longer exists (ENOENT anywhere in the causes). */
function localSourceVanished(err: unknown): boolean {
  if (localSourceChange(err) !== undefined) return true; // written, truncated or removed while hashed or sent
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
  }
  return false;
}
