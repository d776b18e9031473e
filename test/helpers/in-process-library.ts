// A library opened in process the way the mount daemon opens it, without a mount: a client of the reference server,
// the SQLite store after the first full sync, the content cache, the hydrator and the write path (src/vfs with the
// real uploader). The in-process tests of src/vfs drive `w.fs` directly.
import * as path from 'node:path';
import { buildWritePath, type WritePath, type WritePathOptions } from '../../src/cli/write-path';
import { ContentCache } from '../../src/cache/content-cache';
import { MetadataStore } from '../../src/cache/metadata-store';
import { libraryWebUrl } from '../../src/protocol/discover-library';
import { SpClient } from '../../src/protocol/sp-client';
import { systemClock } from '../../src/shared/clock';
import { silentLogger, type Logger } from '../../src/shared/logger';
import { ForegroundActivity } from '../../src/sync/foreground-activity';
import { Hydrator } from '../../src/sync/hydrator';
import { PREFETCH_MAX_FILE_BYTES, SiblingPrefetch } from '../../src/sync/sibling-prefetch';
import { TreeSync } from '../../src/sync/tree-sync';
import { USER } from '../server/server-harness';

export interface InProcessLibrary {
  api: SpClient;
  store: MetadataStore;
  cache: ContentCache;
  hydrator: Hydrator;
  logger: Logger;
  /** Its change sync: `tree.sync()` brings remote changes in. */
  tree: TreeSync;
  w: WritePath;
  prefetch: SiblingPrefetch | undefined;
}

/** Opens the library at `siteUrl` with its state under `work`; `closers` gets what to close, in opening order. */
export async function openInProcessLibrary(o: {
  work: string;
  siteUrl: string;
  closers: Array<() => Promise<void> | void>;
  /** Write-path options beyond the parts made here (pins default to the bare flag). */
  write?: Partial<WritePathOptions>;
  /** --cache-size; default 1 GiB. */
  cacheMaxBytes?: number;
  /** Sibling prefetch as the daemon runs it (`--prefetch-files N`); default none. */
  prefetchFiles?: number;
}): Promise<InProcessLibrary> {
  const api = await SpClient.connect({
    url: o.siteUrl,
    credentials: { user: USER.name, password: USER.password },
  });
  o.closers.push(() => api.close());
  const logger = silentLogger();
  const store = MetadataStore.open(path.join(o.work, 'meta.db'), { logger });
  o.closers.push(() => store.close());
  const tree = new TreeSync({
    api,
    store,
    logger,
    localChanges: store.journal,
    lookup: api,
    ownIdentity: api.customIdentity,
  });
  await tree.initialSync();
  const cache = await ContentCache.open({
    dir: path.join(o.work, 'content'),
    store,
    maxBytes: o.cacheMaxBytes ?? 1 << 30,
    logger,
  });
  // As the daemon: a download that finds another version syncs now, and an open waits for that sync.
  const hydrator = new Hydrator({
    api,
    store,
    cache,
    logger,
    versionChanged: async () => void (await tree.sync()),
  });
  o.closers.push(() => hydrator.close());
  const prefetch =
    o.prefetchFiles !== undefined
      ? new SiblingPrefetch({
          store,
          cache,
          hydrator,
          logger,
          maxAhead: o.prefetchFiles,
          maxFileBytes: PREFETCH_MAX_FILE_BYTES,
        })
      : undefined;
  if (prefetch !== undefined) o.closers.push(() => prefetch.close());
  const w = buildWritePath({
    cacheDir: o.work,
    store,
    cache,
    hydrator,
    api,
    logger,
    clock: systemClock,
    activity: new ForegroundActivity(),
    pins: { setPinned: (id, pinned) => store.setPinned(id, pinned) },
    libraryWebUrl: libraryWebUrl(o.siteUrl, api.library.siteUrl),
    ...(prefetch !== undefined ? { prefetch } : {}),
    ...o.write,
  });
  o.closers.push(() => w.stop());
  return { api, store, cache, hydrator, logger, tree, w, prefetch };
}
