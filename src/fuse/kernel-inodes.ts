// What the kernel holds of each inode, as the libfuse3 adapter has told it: the lookup count (every entry reply and
// every readdirplus entry adds one, FORGET takes away) and the name it was last given under, so a remote change can
// invalidate exactly the kernel's dentry and attributes of the items it touched. Plain logic, no FUSE.

export interface KernelName {
  parent: number;
  name: string;
}

/**
 * What to tell the kernel: drop an inode's attributes and pages (a folder's pages are its cached listing), or one
 * dentry (a name, or a "no such name").
 */
export type Invalidation = { kind: 'inode'; ino: number } | { kind: 'entry'; parent: number; name: string };

/** An item a change touched: its inode number if it has one, and where it is now if it still exists. */
export interface TouchedItem {
  ino: number | undefined;
  now: KernelName | undefined;
  /** A folder (still there): changed where the kernel knows it, only its inode is invalidated. */
  folder?: boolean;
}

const ROOT_INO = 1;

/** One inode the kernel holds: its lookup count and the name it was last given under. */
interface Held {
  count: number;
  parent: number;
  name: string;
}

/**
 * One map entry per inode (the kernel may hold hundreds of thousands after `ls -lR`: three maps and a key string
 * each took 26 MiB per 100,000). An unlinked inode keeps its last name: invalidating it later may also drop the
 * dentry that name has now, which costs the kernel one lookup and is never wrong.
 */
export class KernelInodes {
  private readonly inodes = new Map<number, Held>();

  /** The kernel now holds one more reference to `ino`, known as `name` in `parent`. */
  looked(ino: number, parent: number, name: string): void {
    const h = this.inodes.get(ino);
    if (h === undefined) {
      this.inodes.set(ino, { count: 1, parent, name });
      return;
    }
    h.count++;
    h.parent = parent;
    h.name = name;
  }

  /** FORGET: the kernel drops `n` references. At zero it holds nothing of the inode: returns true then. */
  forget(ino: number, n: number): boolean {
    const h = this.inodes.get(ino);
    if (h !== undefined && h.count > n) {
      h.count -= n;
      return false;
    }
    this.inodes.delete(ino);
    return true;
  }

  /** A rename through the kernel: its dentry moved with it. */
  moved(ino: number, parent: number, name: string): void {
    const h = this.inodes.get(ino);
    if (h === undefined) return;
    h.parent = parent;
    h.name = name;
  }

  /** The root is always held: the kernel never looks it up and never forgets it. */
  held(ino: number): boolean {
    return ino === ROOT_INO || this.inodes.has(ino);
  }

  /**
   * What the kernel may hold stale of these items: each inode it holds (with the name it knows it by), and the name
   * each item has now under a folder it holds, where it may have cached "no such name" (a create, a rename's new
   * name); and of these folders (inode numbers) whose listing changed, the listing it may have cached. Only the
   * folder's inode, never its dentry: dropping a folder's dentry would drop every name cached under it (the same for
   * a folder changed in place). Nothing for what it never saw.
   */
  invalidations(items: readonly TouchedItem[], listings: readonly number[] = []): Invalidation[] {
    const out: Invalidation[] = [];
    const seen = new Set<string>();
    const inodes = new Set<number>();
    const inode = (ino: number): void => {
      if (inodes.has(ino) || !this.held(ino)) return;
      inodes.add(ino);
      out.push({ kind: 'inode', ino });
    };
    const entry = (parent: number, name: string): void => {
      const k = key(parent, name);
      if (seen.has(k)) return;
      seen.add(k);
      out.push({ kind: 'entry', parent, name });
    };
    for (const { ino, now, folder } of items) {
      if (ino !== undefined && this.held(ino)) {
        inode(ino);
        const old = this.inodes.get(ino);
        // A folder changed in place (its mtime, after a change inside it) keeps its dentry: dropping it would unhash
        // the working directory of a process in it (getcwd fails: git under load did) and every name cached below.
        if (folder === true && old !== undefined && now?.parent === old.parent && now.name === old.name)
          continue;
        if (old !== undefined) entry(old.parent, old.name);
      }
      if (now !== undefined && this.held(now.parent)) entry(now.parent, now.name);
    }
    for (const ino of listings) inode(ino);
    return out;
  }

  nameOf(ino: number): KernelName | undefined {
    const h = this.inodes.get(ino);
    return h === undefined ? undefined : { parent: h.parent, name: h.name };
  }

  lookups(ino: number): number {
    return this.inodes.get(ino)?.count ?? 0;
  }

  /** Every inode the kernel holds (a full resync invalidates them all). */
  all(): number[] {
    return [...this.inodes.keys()];
  }

  get size(): number {
    return this.inodes.size;
  }
}

function key(parent: number, name: string): string {
  return `${parent}/${name}`;
}
