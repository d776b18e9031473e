// Connects the mount's protocol client, remembering the discovered library and our X-CustomIdentity in the cache
// folder: a remount while the server is down builds the client from them and serves the stored tree offline.
import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpClient, type SpClientOptions } from '../protocol/sp-client';
import type { LibraryRef } from '../protocol/types';
import { asListId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import { isUnreachable } from '../sync/connectivity';

const LIBRARY_FILE = 'library.json';

interface SavedLibrary {
  url: string;
  library?: LibraryRef;
  customIdentity: string;
}

export interface ConnectedClient {
  client: SpClient;
  /** Set when the server could not be reached and the client was built from the saved library. */
  offlineCause?: unknown;
}

/** `canServeOffline`: a stored tree exists, so an unreachable server is not a mount failure. */
export async function connectLibrary(
  opts: SpClientOptions & { logger: Logger },
  cacheDir: string,
  canServeOffline: boolean,
): Promise<ConnectedClient> {
  const saved = readSaved(cacheDir, opts.url);
  const customIdentity = opts.customIdentity ?? saved?.customIdentity ?? randomUUID();
  try {
    const client = await SpClient.connect({ ...opts, customIdentity });
    writeSaved(cacheDir, { url: opts.url, library: client.library, customIdentity });
    return { client };
  } catch (err) {
    if (!canServeOffline || saved?.library === undefined || !isUnreachable(err)) throw err;
    opts.logger.warn({ err }, 'server unreachable at mount time; serving the stored tree offline');
    const client = await SpClient.connect({ ...opts, customIdentity, library: saved.library });
    return { client, offlineCause: err };
  }
}

function readSaved(dir: string, url: string): SavedLibrary | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, LIBRARY_FILE), 'utf8')) as Partial<SavedLibrary>;
    if (typeof v.customIdentity !== 'string') return undefined;
    const lib = v.library;
    const sameUrl = v.url === url;
    const library =
      sameUrl && lib && typeof lib.siteUrl === 'string' && typeof lib.listId === 'string'
        ? { siteUrl: lib.siteUrl, listId: asListId(lib.listId), siteId: String(lib.siteId ?? '') }
        : undefined;
    return { url: String(v.url), customIdentity: v.customIdentity, ...(library ? { library } : {}) };
  } catch {
    return undefined;
  }
}

function writeSaved(dir: string, v: SavedLibrary): void {
  const file = join(dir, LIBRARY_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(v), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}
