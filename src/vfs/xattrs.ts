// The extended attributes of an item (docs/SEMANTICS.md "File states and extended attributes"): read from SQLite and
// memory only — the items row, the content cache index, the upload journal, the uploader's requests in flight — so
// `getfattr` never downloads content and never waits on the network. `user.spfs.pinned` is the one writable name.
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import { isLocalId } from '../cache/upload-journal';
import { isConflictName } from '../sync/conflict-name';
import { itemPath } from '../sync/upload-status';
import { FsError } from './errors';
import { fileState, type FileFacts, type StateOf } from './file-state';
import type { PinControl, UploadActivity } from './types';

export const XATTR_PREFIX = 'user.spfs.';

/** Every name spfs serves, in the order `getfattr -d` lists them. */
export const XATTR_NAMES = [
  'user.spfs.state',
  'user.spfs.pinned',
  'user.spfs.resource-id',
  'user.spfs.etag',
  'user.spfs.url',
  'user.spfs.error',
] as const;
export type XattrName = (typeof XATTR_NAMES)[number];

const PINNED = 'user.spfs.pinned';

export function isXattrName(name: string): name is XattrName {
  return (XATTR_NAMES as readonly string[]).includes(name);
}

export interface XattrSources {
  store: MetadataStore;
  /** Whether the item's bytes are in a local copy (local-files.ts): all of them are on this device. */
  hasLocalCopy(id: StoredItem['id']): boolean;
  uploads: UploadActivity;
  pins: PinControl;
  /** The library's web address without a trailing slash (docs/PROTOCOL.md "Web addresses"); none: no url. */
  libraryWebUrl?: string;
}

export class ItemXattrs {
  constructor(private readonly o: XattrSources) {}

  /** The names this item has now (resource-id, etag and url only once the server knows it; error only when failing). */
  names(item: StoredItem): string[] {
    const state = this.state(item);
    return XATTR_NAMES.filter((n) => this.valueWith(item, n, state) !== undefined);
  }

  /** One attribute's value; ENODATA when the item has none of that name. */
  get(item: StoredItem, name: string): Buffer {
    const v = isXattrName(name) ? this.valueWith(item, name, undefined) : undefined;
    if (v === undefined) throw new FsError('ENODATA', `no attribute ${name}`);
    return Buffer.from(v);
  }

  set(item: StoredItem, name: string, value: Buffer): void {
    if (name !== PINNED) throw new FsError('ENOTSUP', `attribute ${name} cannot be set`);
    const v = value.toString();
    if (v !== '1' && v !== '0')
      throw new FsError('EINVAL', `${PINNED} takes 1 or 0, not ${JSON.stringify(v)}`);
    this.o.pins.setPinned(item.id, v === '1');
  }

  remove(item: StoredItem, name: string): void {
    if (name !== PINNED) throw new FsError('ENOTSUP', `attribute ${name} cannot be removed`);
    this.o.pins.setPinned(item.id, false);
  }

  /** The item's state and, when its upload is failing, why. */
  state(item: StoredItem): StateOf {
    const { store } = this.o;
    const j = store.journal.get(item.id);
    const facts: FileFacts = {
      kind: item.kind,
      pinned: store.pins.isPinned(item.id),
      content: item.kind === 'folder' ? 'none' : this.content(item),
      sending: this.o.uploads.isSending(item.id),
      conflictCopy: isConflictName(item.name),
    };
    if (j !== undefined)
      facts.pending = {
        permanent: j.permanent,
        attempts: j.attempts,
        ...(j.failure !== undefined ? { failure: j.failure } : {}),
      };
    return fileState(facts);
  }

  private content(item: StoredItem): FileFacts['content'] {
    if (this.o.hasLocalCopy(item.id)) return 'complete';
    const index = this.o.store.cacheIndex;
    const entry = index.get(item.id, item.etag);
    if (entry === undefined) return 'none';
    if (entry.verified) return 'complete';
    return index.ranges(item.id, item.etag).list().length > 0 ? 'some' : 'none';
  }

  private valueWith(item: StoredItem, name: XattrName, known: StateOf | undefined): string | undefined {
    const serverKnows = !isLocalId(item.id);
    switch (name) {
      case 'user.spfs.state':
        return (known ?? this.state(item)).state;
      case 'user.spfs.error':
        return (known ?? this.state(item)).error;
      case 'user.spfs.pinned':
        return this.o.store.pins.isPinned(item.id) ? '1' : '0';
      case 'user.spfs.resource-id':
        return serverKnows ? item.id : undefined;
      case 'user.spfs.etag':
        return serverKnows ? item.etag : undefined;
      case 'user.spfs.url':
        return serverKnows ? this.url(item) : undefined;
    }
  }

  private url(item: StoredItem): string | undefined {
    const base = this.o.libraryWebUrl;
    if (base === undefined) return undefined;
    const path = itemPath(this.o.store, item.id);
    return path === '/' ? base : base + path.split('/').map(encodeURIComponent).join('/');
  }
}
