// What the kernel holds of each inode, as the libfuse3 adapter has told it: the lookup count (every entry reply and
// every readdirplus entry adds one, FORGET takes away) and the name it was last given under, so a remote change can
// invalidate exactly the kernel's dentry and attributes of the items it touched. Plain logic, no FUSE.

export interface KernelName {
  parent: number;
  name: string;
}

/** What to tell the kernel: drop an inode's attributes and pages, or one dentry (a name, or a "no such name"). */
export type Invalidation = { kind: 'inode'; ino: number } | { kind: 'entry'; parent: number; name: string };

/** An item a change touched: its inode number if it has one, and where it is now if it still exists. */
export interface TouchedItem {
  ino: number | undefined;
  now: KernelName | undefined;
}

const ROOT_INO = 1;

export class KernelInodes {
  private readonly counts = new Map<number, number>();
  private readonly names = new Map<number, KernelName>();
  /** `parent/name` → inode, for unlinks (the kernel names an entry, not an inode). */
  private readonly byName = new Map<string, number>();

  /** The kernel now holds one more reference to `ino`, known as `name` in `parent`. */
  looked(ino: number, parent: number, name: string): void {
    this.counts.set(ino, (this.counts.get(ino) ?? 0) + 1);
    this.setName(ino, parent, name);
  }

  /** FORGET: the kernel drops `n` references. At zero it holds nothing of the inode: returns true then. */
  forget(ino: number, n: number): boolean {
    const left = (this.counts.get(ino) ?? 0) - n;
    if (left > 0) {
      this.counts.set(ino, left);
      return false;
    }
    this.counts.delete(ino);
    this.dropName(ino);
    return true;
  }

  /** A rename through the kernel: its dentry moved with it. */
  moved(ino: number, parent: number, name: string): void {
    if (this.counts.has(ino)) this.setName(ino, parent, name);
  }

  /** An unlink or rmdir through the kernel: the dentry is gone, the inode lives until forgotten. */
  unlinked(parent: number, name: string): void {
    const ino = this.byName.get(key(parent, name));
    if (ino !== undefined) this.dropName(ino);
  }

  /** The root is always held: the kernel never looks it up and never forgets it. */
  held(ino: number): boolean {
    return ino === ROOT_INO || this.counts.has(ino);
  }

  /**
   * What the kernel may hold stale of these items: each inode it holds (with the name it knows it by), and the name
   * each item has now under a folder it holds, where it may have cached "no such name" (a create, a rename's new
   * name). Nothing for what it never saw.
   */
  invalidations(items: readonly TouchedItem[]): Invalidation[] {
    const out: Invalidation[] = [];
    const seen = new Set<string>();
    const entry = (parent: number, name: string): void => {
      const k = key(parent, name);
      if (seen.has(k)) return;
      seen.add(k);
      out.push({ kind: 'entry', parent, name });
    };
    for (const { ino, now } of items) {
      if (ino !== undefined && this.held(ino)) {
        out.push({ kind: 'inode', ino });
        const old = this.names.get(ino);
        if (old !== undefined) entry(old.parent, old.name);
      }
      if (now !== undefined && this.held(now.parent)) entry(now.parent, now.name);
    }
    return out;
  }

  nameOf(ino: number): KernelName | undefined {
    return this.names.get(ino);
  }

  lookups(ino: number): number {
    return this.counts.get(ino) ?? 0;
  }

  /** Every inode the kernel holds (a full resync invalidates them all). */
  all(): number[] {
    return [...this.counts.keys()];
  }

  get size(): number {
    return this.counts.size;
  }

  private setName(ino: number, parent: number, name: string): void {
    this.dropName(ino);
    this.names.set(ino, { parent, name });
    this.byName.set(key(parent, name), ino);
  }

  private dropName(ino: number): void {
    const old = this.names.get(ino);
    if (old === undefined) return;
    this.names.delete(ino);
    const k = key(old.parent, old.name);
    if (this.byName.get(k) === ino) this.byName.delete(k);
  }
}

function key(parent: number, name: string): string {
  return `${parent}/${name}`;
}
