// Files holding local modifications not yet uploaded: one per item in `<cache>/dirty/`, named after the item id only.
// Never evicted (the content cache does not index them); adopted into the content cache once the server has them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ItemId } from '../shared/ids';
import { InvalidInputError } from '../shared/errors';
import type { Logger } from '../shared/logger';
import type { UploadJournal } from './upload-journal';

const SAFE_ID = /^(local-)?[0-9a-f]{32}$/;

export class DirtyFiles {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  pathOf(id: ItemId): string {
    if (!SAFE_ID.test(id)) throw new InvalidInputError(`not an item id: ${JSON.stringify(id)}`);
    return path.join(this.dir, `${id}.bin`);
  }

  exists(id: ItemId): boolean {
    return fs.existsSync(this.pathOf(id));
  }

  /** Follows a re-key (the server assigned a ResourceID). */
  rename(oldId: ItemId, newId: ItemId): void {
    if (this.exists(oldId)) fs.renameSync(this.pathOf(oldId), this.pathOf(newId));
  }

  remove(id: ItemId): void {
    fs.rmSync(this.pathOf(id), { force: true });
  }

  /** Start-up: removes files no journal row needs (an open-for-write copy never closed before a crash). */
  sweep(journal: UploadJournal, logger: Logger): number {
    const needed = new Set(
      journal
        .all()
        .filter((e) => e.content)
        .map((e) => `${e.itemId}.bin`),
    );
    let removed = 0;
    for (const name of fs.readdirSync(this.dir)) {
      if (needed.has(name)) continue;
      fs.rmSync(path.join(this.dir, name), { force: true });
      removed++;
    }
    if (removed > 0) logger.info({ removed }, 'removed local copies no pending upload needs');
    return removed;
  }
}
