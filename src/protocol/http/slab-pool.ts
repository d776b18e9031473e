// Recycled read buffers for the direct download client. Node allocates a fresh 64 KiB ArrayBuffer for every socket
// read; streaming a GiB that way made V8 run ~40 external-memory mark-compacts and cost more CPU than the transfer
// itself (docs/BENCHMARKS.md). Sockets here read into the free tail of a 1 MiB slab instead; body chunks are views
// of it, and a slab is reused once every chunk lent from it has been released. A chunk never released just keeps its
// slab alive until the garbage collector takes it: releasing is an optimisation, never a requirement.

export const SLAB_BYTES = 1024 * 1024;
/** A slab whose free tail is shorter than this is retired (a read gets at least this much room). */
export const MIN_READ_BYTES = 128 * 1024;
/** Free slabs kept for reuse (more are left to the garbage collector). */
const MAX_FREE_SLABS = 48;

export class Slab {
  readonly buf: Buffer = Buffer.allocUnsafeSlow(SLAB_BYTES);
  used = 0;
  /** byteOffsets of the chunks lent and not yet released. */
  readonly lent = new Set<number>();
  /** Still being read into by a connection. */
  active = true;

  /** Where the next socket read goes. */
  tail(): Buffer {
    return this.buf.subarray(this.used);
  }
}

export class SlabPool {
  private readonly free: Slab[] = [];
  private readonly owners = new WeakMap<ArrayBufferLike, Slab>();
  /** Slabs handed out and recycled (for tests and the daemon's stats). */
  readonly counts = { created: 0, reused: 0 };

  /** A slab for one connection to read into. */
  acquire(): Slab {
    const reused = this.free.pop();
    if (reused !== undefined) {
      reused.used = 0;
      reused.active = true;
      this.counts.reused++;
      return reused;
    }
    const slab = new Slab();
    this.owners.set(slab.buf.buffer, slab);
    this.counts.created++;
    return slab;
  }

  /** `n` bytes were read into `slab`'s tail. Returns the slab to read into next (a new one when it is full). */
  advance(slab: Slab, n: number): Slab {
    slab.used += n;
    if (SLAB_BYTES - slab.used >= MIN_READ_BYTES) return slab;
    this.retire(slab);
    return this.acquire();
  }

  /** The connection stops reading into `slab`. */
  retire(slab: Slab): void {
    slab.active = false;
    this.maybeFree(slab);
  }

  /** `chunk` (a view of a slab) is handed to a consumer, who may release it. */
  lend(chunk: Uint8Array): void {
    this.owners.get(chunk.buffer)?.lent.add(chunk.byteOffset);
  }

  /** The consumer is done with these chunks (written, hashed): their bytes may be overwritten. */
  release(chunks: readonly Uint8Array[]): void {
    for (const c of chunks) {
      const slab = this.owners.get(c.buffer);
      if (slab === undefined || !slab.lent.delete(c.byteOffset)) continue;
      this.maybeFree(slab);
    }
  }

  private maybeFree(slab: Slab): void {
    if (slab.active || slab.lent.size > 0) return;
    if (this.free.length < MAX_FREE_SLABS && !this.free.includes(slab)) this.free.push(slab);
  }
}
