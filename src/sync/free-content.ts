// `spfs free`: drops the cached content of the documents under some items, except what must stay: content with a
// local change not uploaded yet, files open here, and pinned files (unless the caller unpins them first).
import type { ContentCache } from '../cache/content-cache';
import type { MetadataStore } from '../cache/metadata-store';
import type { ItemId } from '../shared/ids';
import type { PinManager } from './pin-manager';
import { itemPath } from './upload-status';

export type KeptReason = 'pinned' | 'pending upload' | 'open';

export interface FreeReport {
  /** Cached versions removed, and the bytes they occupied on disk. */
  files: number;
  bytes: number;
  /** Documents whose cached content stayed, and why. */
  kept: Array<{ path: string; reason: KeptReason; bytes: number }>;
}

export interface FreeContentDeps {
  store: MetadataStore;
  cache: Pick<ContentCache, 'free'>;
  pins: Pick<PinManager, 'setPinned'>;
  /** Whether a handle has the item's local copy open (LocalFiles). */
  openLocally: (id: ItemId) => boolean;
}

export function freeContent(d: FreeContentDeps, roots: readonly ItemId[], unpin: boolean): FreeReport {
  const report: FreeReport = { files: 0, bytes: 0, kept: [] };
  const seen = new Set<ItemId>();
  for (const root of roots) {
    if (unpin) d.pins.setPinned(root, false);
    for (const doc of d.store.pins.documentsUnder(root)) {
      if (seen.has(doc.id)) continue;
      seen.add(doc.id);
      const keep = (reason: KeptReason): void => {
        // Only documents with something here are worth a line.
        if (doc.presentBytes > 0 || doc.pendingUpload)
          report.kept.push({ path: itemPath(d.store, doc.id), reason, bytes: doc.presentBytes });
      };
      if (doc.pendingUpload) keep('pending upload');
      else if (doc.pinned) keep('pinned');
      else if (d.openLocally(doc.id)) keep('open');
      else {
        const r = d.cache.free(doc.id);
        report.files += r.files;
        report.bytes += r.bytes;
        if (r.keptOpen > 0) keep('open');
      }
    }
  }
  return report;
}
