// QuickXorHash (the protocol's XORHash, digest §7.1): a 160-bit XOR-shift register, incremental so downloads and
// uploads can hash while streaming. Whole 160-byte rounds go through a 367-byte WebAssembly SIMD kernel
// (quickxorhash.wat), about 5x the plain-JS word loop, which stays as the fallback where SIMD is unavailable.
import { QUICKXORHASH_WASM_BASE64 } from './quickxorhash-wasm';

const WIDTH_BITS = 160;
const SHIFT_BITS = 11;
const WIDTH_BYTES = WIDTH_BITS / 8;
/** Byte i lands at bit offset (i*11) mod 160, which repeats every 160 bytes: one lane per residue. */
const LANES = 160;
/** Aligned copy buffer for unaligned input; a multiple of LANES. */
const SCRATCH_BYTES = LANES * 6554;
const scratch = new Uint8Array(SCRATCH_BYTES);

interface SimdKernel {
  /** The module's memory: lanes at 0..159, input from DATA_AT. */
  mem: Uint8Array;
  /** XORs `count` 160-byte rounds starting at `at` into the lanes. */
  rounds(at: number, count: number): void;
}
/** Where input is copied in the module's memory (its 17 pages: one for the lanes, 16 for input). */
const WASM_DATA_AT = 65536;
/** Largest input copy per kernel call: a whole number of rounds that fits in 1 MiB. */
const WASM_CHUNK_BYTES = Math.floor((1024 * 1024) / LANES) * LANES;
/** Below this many rounds the copy in and out of the module costs more than it saves. */
const WASM_MIN_ROUNDS = 16;

/** The slice of the WebAssembly global used here (the project's TypeScript libs do not declare it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

function loadSimdKernel(): SimdKernel | undefined {
  try {
    const mod = new WebAssembly.Module(Buffer.from(QUICKXORHASH_WASM_BASE64, 'base64'));
    const inst = new WebAssembly.Instance(mod, {});
    const { mem, rounds } = inst.exports as {
      mem: { buffer: ArrayBuffer };
      rounds: (at: number, n: number) => void;
    };
    return { mem: new Uint8Array(mem.buffer), rounds };
  } catch {
    return undefined; // no WebAssembly SIMD here: the JS loop does the work
  }
}

let simd: SimdKernel | undefined = loadSimdKernel();

/** Switches the SIMD kernel off or back on (tests compare both paths); returns whether it is now in use. */
export function useSimdKernel(on: boolean): boolean {
  simd = on ? loadSimdKernel() : undefined;
  return simd !== undefined;
}

export class QuickXorHash {
  // Hot path (every downloaded byte): XOR each byte into its lane only; the shifts are applied once in digest().
  private readonly lanes = new Uint8Array(LANES);
  private readonly lanes32 = new Int32Array(this.lanes.buffer);
  private length = 0;

  /**
   * A hasher for a segment of a stream that starts `offset` bytes in: each byte goes to the lane of its absolute
   * position, so segments hashed apart (another thread, another fetch) combine exactly by mergeLanes().
   */
  static startingAt(offset: number): QuickXorHash {
    const h = new QuickXorHash();
    h.length = offset;
    return h;
  }

  /** A copy of the 160 lanes (for a segment hasher: what mergeLanes() of the whole-stream hasher takes). */
  laneBytes(): Uint8Array {
    return Uint8Array.from(this.lanes);
  }

  /** Adds a segment hashed elsewhere: its lanes (from a hasher startingAt this one's length) and its byte count. */
  mergeLanes(lanes: Uint8Array, bytes: number): this {
    if (lanes.length !== LANES) throw new RangeError(`lanes must be ${LANES} bytes`);
    for (let j = 0; j < LANES; j++) this.lanes[j] = (this.lanes[j] as number) ^ (lanes[j] as number);
    this.length += bytes;
    return this;
  }

  update(data: Uint8Array): this {
    const lanes = this.lanes;
    let lane = this.length % LANES;
    let i = 0;
    const n = data.length;
    // Finish the partial round, then whole 160-byte rounds, then the tail.
    while (lane !== 0 && i < n) {
      lanes[lane] = (lanes[lane] as number) ^ (data[i++] as number);
      if (++lane === LANES) lane = 0;
    }
    const rounds = Math.floor((n - i) / LANES);
    const kernel = simd;
    if (kernel !== undefined && rounds >= WASM_MIN_ROUNDS) {
      const bytes = rounds * LANES;
      kernel.mem.set(lanes, 0);
      for (let done = 0; done < bytes;) {
        const take = Math.min(bytes - done, WASM_CHUNK_BYTES);
        kernel.mem.set(data.subarray(i + done, i + done + take), WASM_DATA_AT);
        kernel.rounds(WASM_DATA_AT, take / LANES);
        done += take;
      }
      lanes.set(kernel.mem.subarray(0, LANES));
      i += bytes;
    } else if (rounds > 0) {
      // XOR 40 words per round instead of 160 bytes (lane by lane, so byte order doesn't matter). Unaligned input
      // (network chunks often are) is first copied into an aligned scratch buffer: a copy is far cheaper than the
      // byte loop.
      const l32 = this.lanes32;
      const bytes = rounds * LANES;
      for (let done = 0; done < bytes;) {
        const take = Math.min(bytes - done, SCRATCH_BYTES);
        const start = data.byteOffset + i + done;
        let words: Int32Array;
        if (start % 4 === 0) {
          words = new Int32Array(data.buffer, start, take / 4);
        } else {
          scratch.set(data.subarray(i + done, i + done + take));
          words = new Int32Array(scratch.buffer, 0, take / 4);
        }
        for (let w = 0; w < words.length; w += LANES / 4) {
          for (let k = 0; k < LANES / 4; k++) l32[k] = (l32[k] as number) ^ (words[w + k] as number);
        }
        done += take;
      }
      i += bytes;
    }
    for (; i + LANES <= n; i += LANES) {
      for (let j = 0; j < LANES; j++) lanes[j] = (lanes[j] as number) ^ (data[i + j] as number);
    }
    for (let j = 0; i < n; i++, j++) lanes[j] = (lanes[j] as number) ^ (data[i] as number);
    this.length += n;
    return this;
  }

  /** base64 of the 20-byte digest, with the total length XORed into the last 8 bytes. */
  digest(): string {
    const cells = new Uint8Array(WIDTH_BYTES);
    for (let j = 0; j < LANES; j++) {
      const byte = this.lanes[j] as number;
      if (byte === 0) continue;
      const shift = (j * SHIFT_BITS) % WIDTH_BITS;
      const bytePos = shift >>> 3;
      const bitPos = shift & 7;
      cells[bytePos] = (cells[bytePos] as number) ^ ((byte << bitPos) & 0xff);
      if (bitPos > 0) {
        const next = (bytePos + 1) % WIDTH_BYTES;
        cells[next] = (cells[next] as number) ^ (byte >>> (8 - bitPos));
      }
    }
    const out = Buffer.from(cells);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(this.length));
    for (let i = 0; i < 8; i++)
      out[WIDTH_BYTES - 8 + i] = (out[WIDTH_BYTES - 8 + i] as number) ^ (len[i] as number);
    return out.toString('base64');
  }
}

export function quickXorHash(data: Uint8Array): string {
  return new QuickXorHash().update(data).digest();
}
