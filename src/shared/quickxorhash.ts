// QuickXorHash (the protocol's XORHash, digest §7.1): a 160-bit XOR-shift register, incremental so downloads and
// uploads can hash while streaming.

const WIDTH_BITS = 160;
const SHIFT_BITS = 11;
const WIDTH_BYTES = WIDTH_BITS / 8;

export class QuickXorHash {
  private readonly cells = new Uint8Array(WIDTH_BYTES);
  private length = 0;
  private shift = 0; // bit offset, (length * 11) mod 160

  update(data: Uint8Array): this {
    const cells = this.cells;
    let shift = this.shift;
    // Each byte is XORed in at bit offset `shift` (wrapping across the 20-byte register); the offset advances by
    // 11 mod 160 per byte.
    for (let i = 0; i < data.length; i++) {
      const byte = data[i] as number;
      const bytePos = shift >>> 3;
      const bitPos = shift & 7;
      cells[bytePos] = (cells[bytePos] as number) ^ ((byte << bitPos) & 0xff);
      if (bitPos > 0) {
        const next = (bytePos + 1) % WIDTH_BYTES;
        cells[next] = (cells[next] as number) ^ (byte >>> (8 - bitPos));
      }
      shift += SHIFT_BITS;
      if (shift >= WIDTH_BITS) shift -= WIDTH_BITS;
    }
    this.shift = shift;
    this.length += data.length;
    return this;
  }

  /** base64 of the 20-byte digest, with the total length XORed into the last 8 bytes. */
  digest(): string {
    const out = Buffer.from(this.cells);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(this.length));
    for (let i = 0; i < 8; i++) out[WIDTH_BYTES - 8 + i] = (out[WIDTH_BYTES - 8 + i] as number) ^ (len[i] as number);
    return out.toString('base64');
  }
}

export function quickXorHash(data: Uint8Array): string {
  return new QuickXorHash().update(data).digest();
}
