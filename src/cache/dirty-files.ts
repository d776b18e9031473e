// Files holding local modifications not yet uploaded, in `<cache>/dirty/`. A copy gets a random name once, when it is
// made; `items.copy` says which item it belongs to, so re-keying an item or moving content onto another item is a
// database change, never a file rename. Never evicted (the content cache does not index them).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidInputError } from '../shared/errors';

/** Copy names: 32 hex (new) or an item id (copies made before schema 4), then `.bin`. */
const SAFE_NAME = /^(local-)?[0-9a-f]{32}\.bin$/;

export class DirtyFiles {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  /** A fresh copy name (the file is not created). */
  newName(): string {
    return `${randomBytes(16).toString('hex')}.bin`;
  }

  pathOf(name: string): string {
    if (!SAFE_NAME.test(name)) throw new InvalidInputError(`not a local copy name: ${JSON.stringify(name)}`);
    return path.join(this.dir, name);
  }

  exists(name: string): boolean {
    return fs.existsSync(this.pathOf(name));
  }

  remove(name: string): void {
    fs.rmSync(this.pathOf(name), { force: true });
  }

  /** Start-up: removes every file not in `needed` (a copy never recorded, a `.fill` of a crashed open); returns how many. */
  sweep(needed: ReadonlySet<string>): number {
    let removed = 0;
    for (const name of fs.readdirSync(this.dir)) {
      if (needed.has(name)) continue;
      fs.rmSync(path.join(this.dir, name), { force: true });
      removed++;
    }
    return removed;
  }
}
