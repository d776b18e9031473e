// First-start import of a local tree: folders and regular files (bytes copied into the blob folder, QuickXorHash
// computed while copying). Symlinks, special files and names SharePoint would refuse are skipped with a warning.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { foldName, unsafeNameReason } from '../shared/names';
import { QuickXorHash } from '../shared/quickxorhash';
import { SHAREPOINT_MAX_PATH_CHARS, sharePointNameProblem } from '../shared/sharepoint-names';
import type { Logger } from '../shared/logger';
import type { NewItem } from './store';
import { wholeSecond } from './time-format';
import { mimeTypeOf } from './mime-types';

const COPY_CHUNK_BYTES = 1024 * 1024;

export interface SeedOptions {
  seedDir: string;
  blobDir: string;
  rootId: string;
  nowMs: number;
  newId: () => string;
  logger: Logger;
}

/** Copies the tree into blobs and returns the rows to insert, parents first (depth-first, siblings by name). */
export async function importSeed(opts: SeedOptions): Promise<NewItem[]> {
  const out: NewItem[] = [];
  await walk(opts, opts.seedDir, opts.rootId, '/RootFolder', out);
  return out;
}

async function walk(
  opts: SeedOptions,
  dir: string,
  parentId: string,
  parentPath: string,
  out: NewItem[],
): Promise<void> {
  const names = (await fs.promises.readdir(dir)).sort((a, b) => {
    const ka = foldName(a);
    const kb = foldName(b);
    return ka < kb ? -1 : ka > kb ? 1 : a < b ? -1 : a > b ? 1 : 0;
  });
  const taken = new Set<string>();
  for (const name of names) {
    const full = path.join(dir, name);
    const problem = unsafeNameReason(name) ?? sharePointNameProblem(name);
    const itemPath = `${parentPath}/${name}`;
    const skip = (reason: string): void => opts.logger.warn({ path: full, reason }, 'seed: skipped');
    if (problem !== undefined) {
      skip(problem);
      continue;
    }
    if (itemPath.length > SHAREPOINT_MAX_PATH_CHARS) {
      skip(`path longer than ${SHAREPOINT_MAX_PATH_CHARS} characters`);
      continue;
    }
    if (taken.has(foldName(name))) {
      skip('differs only in case from a sibling (SharePoint names are case-insensitive)');
      continue;
    }
    const st = await fs.promises.lstat(full);
    if (!st.isDirectory() && !st.isFile()) {
      skip(st.isSymbolicLink() ? 'symbolic link' : 'not a regular file or folder');
      continue;
    }
    taken.add(foldName(name));
    const id = opts.newId();
    const base = { id, parentId, name, createdMs: opts.nowMs, modifiedMs: wholeSecond(st.mtimeMs) };
    if (st.isDirectory()) {
      out.push({ ...base, kind: 'folder', size: 0, hash: null, mime: null, blob: null });
      await walk(opts, full, id, itemPath, out);
    } else {
      const blob = `${id}.1`;
      const { size, hash } = await copyHashing(full, path.join(opts.blobDir, blob));
      out.push({ ...base, kind: 'document', size, hash, mime: mimeTypeOf(name), blob });
    }
  }
}

/** Streams `src` into `dest` (via a temp file renamed into place), hashing on the way. */
async function copyHashing(src: string, dest: string): Promise<{ size: number; hash: string }> {
  const h = new QuickXorHash();
  let size = 0;
  const tmp = `${dest}.tmp-${randomUUID()}`;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(
    fs.createReadStream(src, { highWaterMark: COPY_CHUNK_BYTES }),
    hasher,
    fs.createWriteStream(tmp),
  );
  await fs.promises.rename(tmp, dest);
  return { size, hash: h.digest() };
}
