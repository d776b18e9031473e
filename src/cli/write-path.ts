// Wires the write path into a mount daemon: dirty copies, write operations, the read-write filesystem, the
// background uploader and the control socket that `spfs status|flush|unmount` talk to.
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ContentCache } from '../cache/content-cache';
import { DirtyFiles } from '../cache/dirty-files';
import type { MetadataStore, StoredItem } from '../cache/metadata-store';
import type { FileSyncWriteApi } from '../protocol/types';
import type { Logger } from '../shared/logger';
import type { Connectivity, ConnectivityStatus } from '../sync/connectivity';
import type { Hydrator } from '../sync/hydrator';
import { Uploader } from '../sync/uploader';
import { LocalFiles } from '../vfs/local-files';
import type { SpfsFilesystem } from '../vfs/spfs-filesystem';
import { WritableFilesystem } from '../vfs/writable-filesystem';
import { WriteOps } from '../vfs/write-ops';
import { startControlSocket, type ControlSocket } from './control-socket';

export interface WritePath {
  fs: WritableFilesystem;
  uploader: Uploader;
  stop(): Promise<void>;
}

export function startWritePath(o: {
  cacheDir: string;
  store: MetadataStore;
  cache: ContentCache;
  hydrator: Hydrator;
  api: FileSyncWriteApi;
  inner: SpfsFilesystem;
  logger: Logger;
  writeBackMs?: number;
  /** Online/offline for `spfs status` (Connectivity.status). */
  status?: () => ConnectivityStatus;
  /** The mount's online state: uploads pause while offline and resume after the change enumeration caught up. */
  connectivity?: Connectivity;
}): WritePath {
  const late: { fs?: WritableFilesystem; uploader?: Uploader } = {};
  const local = new LocalFiles({
    store: o.store,
    dirty: new DirtyFiles(join(o.cacheDir, 'dirty')),
    hydrator: o.hydrator,
    cache: o.cache,
    logger: o.logger,
    onWriterClosed: () => late.uploader?.wake(),
  });
  local.recover();
  const ops: WriteOps = new WriteOps({
    store: o.store,
    local,
    logger: o.logger,
    resolve: (path: string): StoredItem => (late.fs as WritableFilesystem).resolveStored(path),
    onChange: () => late.uploader?.wake(),
  });
  const fs = new WritableFilesystem({ inner: o.inner, store: o.store, ops, local, logger: o.logger });
  const uploader = new Uploader({
    api: o.api,
    store: o.store,
    copies: local,
    logger: o.logger,
    host: hostname(),
    ...(o.connectivity !== undefined ? { connectivity: o.connectivity } : {}),
    ...(o.writeBackMs !== undefined ? { writeBackMs: o.writeBackMs } : {}),
  });
  const pending = o.store.journal.totals();
  if (pending.files > 0) o.logger.info(pending, 'resuming the upload journal');
  uploader.start();
  late.fs = fs;
  late.uploader = uploader;
  const control: ControlSocket = startControlSocket(
    join(o.cacheDir, 'control.sock'),
    uploader,
    o.logger,
    o.status,
  );
  return {
    fs,
    uploader,
    stop: async () => {
      await control.close();
      await uploader.stop();
    },
  };
}
