// Hashes a cached file's contiguous prefix from disk as it grows, in one serial background pass (the page cache
// makes the reads cheap), so the XORHash of a fully present file is ready when its last range lands.
import type { SparseFile } from '../cache/sparse-file';
import { QuickXorHash } from '../shared/quickxorhash';

const HASH_CHUNK_BYTES = 4 * 1024 * 1024;

export class PrefixHasher {
  private hash = new QuickXorHash();
  private hashedBytes = 0;
  private running: Promise<void> | undefined;
  private again = false;
  private generation = 0;
  private readonly buffer = Buffer.allocUnsafe(HASH_CHUNK_BYTES);

  constructor(
    private readonly file: SparseFile,
    /** Called once the whole file is hashed, with the digest. */
    private readonly onDigest: (digest: string) => void,
  ) {}

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
      const read = file.readSync(this.buffer, n, this.hashedBytes);
      if (gen !== this.generation) return;
      this.hash.update(this.buffer.subarray(0, read));
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
