// Hashes a cached file's contiguous prefix as it grows, so the XORHash of a fully present file is ready when its last
// range lands. Bytes written right at the end of the hashed prefix are hashed from memory as they land (the common
// case: a sequential download); anything else (ranges landing out of order, a file reopened with ranges already on
// disk) is read back from the file in one serial background pass.
import type { SparseFile } from '../cache/sparse-file';
import { QuickXorHash } from '../shared/quickxorhash';

const HASH_CHUNK_BYTES = 4 * 1024 * 1024;

export class PrefixHasher {
  private hash = new QuickXorHash();
  private hashedBytes = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private generation = 0;
  /**
   * Only while a pass from disk runs: a 4 MiB buffer per open version, allocated up front, made V8 count 4 MiB of
   * external memory per cold open and run a full collection every few files (docs/BENCHMARKS.md, many small cold
   * files).
   */
  private buffer: Buffer | undefined;

  constructor(
    private readonly file: SparseFile,
    /** Called once the whole file is hashed, with the digest. */
    private readonly onDigest: (digest: string) => void,
  ) {}

  /**
   * Bytes just written at `offset`: hashed from memory when they extend the hashed prefix and no pass from disk is
   * running; otherwise left to such a pass.
   */
  offer(chunks: readonly Uint8Array[], offset: number): void {
    if (!this.extends(offset)) return;
    for (const c of chunks) this.hash.update(c);
    this.grew(chunks.reduce((n, c) => n + c.length, 0));
  }

  /** The same for bytes hashed elsewhere (the download worker): their lanes, from a hasher started at `offset`. */
  offerLanes(lanes: Uint8Array, bytes: number, offset: number): void {
    if (!this.extends(offset)) return;
    this.hash.mergeLanes(lanes, bytes);
    this.grew(bytes);
  }

  /** Whether bytes at `offset` extend the prefix now; if not, a pass from disk picks them up later. */
  private extends(offset: number): boolean {
    if (this.running === undefined && offset === this.hashedBytes) return true;
    this.poke();
    return false;
  }

  private grew(bytes: number): void {
    this.hashedBytes += bytes;
    if (this.hashedBytes === this.file.size) this.onDigest(this.hash.digest());
    else if (this.file.present.coveredUntil(this.hashedBytes) > this.hashedBytes) this.poke(); // later ranges landed first
  }

  /** Hashes whatever the prefix has gained since the last call (serially; calls during a pass extend it). */
  poke(): void {
    this.again = true;
    if (this.running) return;
    this.running = (async () => {
      while (this.again) {
        this.again = false;
        await this.pass();
      }
    })()
      // A failed read (file closed under us) just ends the pass: the version is re-verified on a later open.
      .catch(() => undefined)
      .finally(() => {
        this.running = undefined;
        this.buffer = undefined;
      });
  }

  /** Starts over (the file's bytes were dropped). */
  reset(): void {
    this.generation++;
    this.hash = new QuickXorHash();
    this.hashedBytes = 0;
  }

  private async pass(): Promise<void> {
    const gen = this.generation;
    const { file } = this;
    for (;;) {
      const until = file.present.coveredUntil(this.hashedBytes);
      if (until <= this.hashedBytes) break;
      const n = Math.min(HASH_CHUNK_BYTES, until - this.hashedBytes);
      const buffer = (this.buffer ??= Buffer.allocUnsafe(Math.min(HASH_CHUNK_BYTES, file.size)));
      const read = file.readSync(buffer, n, this.hashedBytes);
      if (gen !== this.generation) return;
      this.hash.update(buffer.subarray(0, read));
      this.hashedBytes += read;
      if (read < n) break;
      if (this.hashedBytes === file.size) {
        this.onDigest(this.hash.digest());
        return;
      }
      // Let reads and network callbacks run between chunks.
      await new Promise<void>((r) => setImmediate(r));
      if (gen !== this.generation) return;
    }
  }
}
