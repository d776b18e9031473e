// Builds a mount's filesystem and its write path: the owner of local copies, the write operations, the one
// filesystem, the background uploader and the control socket that `spfs status|flush|unmount|pin|unpin|free`
// talk to.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ContentCache } from '../cache/content-cache';
import { DirtyFiles } from '../cache/dirty-files';
import type { MetadataStore } from '../cache/metadata-store';
import type { FileSyncWriteApi } from '../protocol/types';
import type { Clock } from '../shared/clock';
import type { Logger } from '../shared/logger';
import type { Connectivity } from '../sync/connectivity';
import type { FolderLister } from '../sync/folder-lister';
import type { ForegroundActivity } from '../sync/foreground-activity';
import { freeContent } from '../sync/free-content';
import type { Hydrator } from '../sync/hydrator';
import type { SiblingPrefetch } from '../sync/sibling-prefetch';
import { PinManager } from '../sync/pin-manager';
import { itemAtPath } from '../sync/upload-status';
import { Uploader } from '../sync/uploader';
import { CurrentVersion } from '../vfs/current-version';
import { LocalFiles } from '../vfs/local-files';
import { SpfsFilesystem, type FileAttributes } from '../vfs/spfs-filesystem';
import type { PinControl } from '../vfs/types';
import { WriteOps } from '../vfs/write-ops';
import { startControlSocket, type ContentControl, type ControlSocket } from './control-socket';

export interface WritePath {
  fs: SpfsFilesystem;
  uploader: Uploader;
  /** The owner of documents' local copies (which are open). */
  local: LocalFiles;
  /** The control socket, when started: told about the mount's FUSE side once mounted. */
  control?: ControlSocket;
  stop(): Promise<void>;
}

export interface WritePathOptions {
  cacheDir: string;
  store: MetadataStore;
  cache: ContentCache;
  hydrator: Hydrator;
  api: FileSyncWriteApi;
  logger: Logger;
  clock: Clock;
  activity: ForegroundActivity;
  lister?: FolderLister;
  storeVersion?: () => number;
  writeBackMs?: number;
  /**
   * The mount's online state: uploads pause while offline and resume after the change enumeration caught up;
   * `spfs status` shows it and `spfs unmount` gives up waiting on it.
   */
  connectivity?: Connectivity;
  /** Owner and mode bits shown, and whether every change is refused (`ro`); default: the process's user, 022. */
  attributes?: FileAttributes;
  /** Start the control socket (the daemon does; in-process tests need none). */
  controlSocket?: boolean;
  /**
   * What setxattr user.spfs.pinned calls. The daemon passes its PinManager, which also hydrates pinned files and
   * serves `spfs pin`, `unpin` and `free`; in-process tests may pass the bare flag.
   */
  pins: PinControl | PinManager;
  /** The library's web address, for user.spfs.url. */
  libraryWebUrl?: string;
  /** Fetches the next small files of a folder read file after file (`--prefetch-files`); none: off. */
  prefetch?: SiblingPrefetch;
}

/** The filesystem and uploader without the control socket: what tests drive in process. */
export function buildWritePath(o: WritePathOptions): WritePath {
  const current = new CurrentVersion({ hydrator: o.hydrator, store: o.store });
  const local = new LocalFiles({
    store: o.store,
    dirty: new DirtyFiles(join(o.cacheDir, 'dirty')),
    current,
    cache: o.cache,
    logger: o.logger,
    onWriterClosed: () => uploader.wake(),
  });
  local.recover();
  const manager = o.pins instanceof PinManager ? o.pins : undefined;
  const ops = new WriteOps({
    store: o.store,
    local,
    logger: o.logger,
    clock: o.clock,
    onChange: (moved) => {
      uploader.wake();
      // An item moved into a pinned folder was pinned by the move's own statement: hydrate it.
      if (moved !== undefined) manager?.itemsChanged([moved]);
    },
  });
  const fs = new SpfsFilesystem({
    store: o.store,
    hydrator: o.hydrator,
    current,
    local,
    ops,
    logger: o.logger,
    clock: o.clock,
    activity: o.activity,
    ...(o.attributes ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }),
    ...(o.lister !== undefined ? { lister: o.lister } : {}),
    ...(o.storeVersion !== undefined ? { storeVersion: o.storeVersion } : {}),
    pins: o.pins,
    uploads: { isSending: (id) => uploader.isSending(id) },
    ...(o.libraryWebUrl !== undefined ? { libraryWebUrl: o.libraryWebUrl } : {}),
    ...(o.prefetch !== undefined ? { prefetch: o.prefetch } : {}),
  });
  // A document a change page deletes while the kernel holds its inode stays readable there (replaced-inodes.ts).
  o.store.onRemoving((item) => fs.removing(item));
  const uploader: Uploader = new Uploader({
    api: o.api,
    store: o.store,
    // Re-keys go through the filesystem, so inode numbers follow them as well as open copies.
    copies: {
      busy: (id) => local.busy(id),
      sourceOf: (id) => local.sourceOf(id),
      uploaded: (owner, remote, size, created) => {
        local.uploaded(owner, remote, size, created);
        // A pinned file whose uploaded copy could not be kept (still open) is downloaded like a remote edit.
        manager?.itemsChanged([remote.id]);
      },
      rekey: (a, b) => fs.rekeyed(a, b),
    },
    logger: o.logger,
    host: hostname(),
    ...(o.connectivity !== undefined ? { connectivity: o.connectivity } : {}),
    ...(o.writeBackMs !== undefined ? { writeBackMs: o.writeBackMs } : {}),
  });
  const pending = o.store.journal.totals();
  if (pending.files > 0) o.logger.info(pending, 'resuming the upload journal');
  uploader.start();
  return { fs, uploader, local, stop: () => uploader.stop() };
}

export function startWritePath(o: WritePathOptions): WritePath {
  const w = buildWritePath(o);
  const pins = o.pins instanceof PinManager ? o.pins : undefined;
  const content: ContentControl | undefined = pins && {
    itemAt: (p) => itemAtPath(o.store, p, o.lister),
    pins,
    free: (roots, unpin) =>
      freeContent(
        { store: o.store, cache: o.cache, pins, openLocally: (id) => w.local.isOpen(id) },
        roots,
        unpin,
      ),
  };
  const control: ControlSocket = startControlSocket(
    join(o.cacheDir, 'control.sock'),
    w.uploader,
    o.logger,
    o.connectivity,
    content,
  );
  return {
    fs: w.fs,
    uploader: w.uploader,
    local: w.local,
    control,
    stop: async () => {
      await control.close();
      await w.stop();
    },
  };
}
