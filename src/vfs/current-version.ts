// Opens the version of a document the server serves now, for both kinds of open that need server bytes: a read of
// a document without local changes (spfs-filesystem.ts) and the copy an open for writing without O_TRUNC starts
// from (local-files.ts). When the server no longer serves the version the store names (another machine saved the
// file since the last sync), the hydrator syncs and the open answers ESTALE: the kernel looks the name up again
// (new size) and retries once, so a program never reads, nor edits, a version the server could only serve in part.
// Before answering, the version the server has now is opened and confirmed (again after each sync while it keeps
// changing, a few times) and kept for that retry (retry-handles.ts): a save landing between the two attempts
// cannot make the retry fail too.
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import { VersionChangedError } from '../sync/errors';
import type { ContentHandle, Hydrator } from '../sync/hydrator';
import { FsError } from './errors';
import { RetryHandles } from './retry-handles';

/** Versions confirmed one after another before an open gives the kernel's retry whatever the server has then. */
const RECONFIRMS = 3;

export interface CurrentVersionOptions {
  hydrator: Pick<Hydrator, 'open'>;
  store: Pick<MetadataStore, 'getItem'>;
}

export class CurrentVersion {
  private readonly retries = new RetryHandles();

  constructor(private readonly o: CurrentVersionOptions) {}

  /** A handle on `item`'s version (the one kept for this retry, if any); ESTALE as above. `path` names it in errors. */
  async open(item: StoredItem, path: string): Promise<ContentHandle> {
    const kept = this.retries.take(item);
    if (kept !== undefined) return kept;
    try {
      return await this.o.hydrator.open(item);
    } catch (err) {
      if (!(err instanceof VersionChangedError)) throw err;
      let bound = item;
      for (let i = 0; i < RECONFIRMS; i++) {
        const now = this.o.store.getItem(item.id);
        if (now === undefined) break; // gone: the kernel's lookup says ENOENT
        if (now.etag === bound.etag) throw err; // the sync brought nothing: a retry would fail too (EIO)
        try {
          this.retries.keep(now, await this.o.hydrator.open(now));
          break;
        } catch (again) {
          if (!(again instanceof VersionChangedError)) break; // the retry meets that failure itself
          bound = now;
        }
      }
      throw new FsError('ESTALE', `${path} changed on the server while it was opened`, { cause: err });
    }
  }
}
