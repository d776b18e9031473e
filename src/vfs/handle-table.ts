// Open file handles: small integers handed to the kernel, mapped to whatever the filesystem keeps per open file.

export class HandleTable<T> {
  private readonly handles = new Map<number, T>();
  private next = 1;

  add(value: T): number {
    // Handle numbers are never reused within a process, so a stale fh from the kernel can't hit a new file.
    const fh = this.next++;
    this.handles.set(fh, value);
    return fh;
  }

  get(fh: number): T | undefined {
    return this.handles.get(fh);
  }

  delete(fh: number): T | undefined {
    const v = this.handles.get(fh);
    this.handles.delete(fh);
    return v;
  }

  get size(): number {
    return this.handles.size;
  }

  values(): IterableIterator<T> {
    return this.handles.values();
  }
}
