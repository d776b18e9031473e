// PrefixHasher over a stand-in file (present ranges and a readSync over a Buffer): what it hashes from disk, and
// that an open version with nothing on disk to hash costs no buffer (each cold open makes one hasher).
import type { SparseFile } from '../../src/cache/sparse-file';
import { ByteRanges } from '../../src/cache/byte-ranges';
import { QuickXorHash } from '../../src/shared/quickxorhash';
import { PrefixHasher } from '../../src/sync/prefix-hasher';

const MIB = 1024 * 1024;

function standIn(bytes: Buffer): { file: SparseFile; present: ByteRanges } {
  const present = new ByteRanges();
  const file = {
    size: bytes.length,
    present,
    readSync: (buf: Buffer, length: number, position: number) =>
      bytes.copy(buf, 0, position, position + length),
  };
  return { file: file as unknown as SparseFile, present };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

describe('PrefixHasher', () => {
  it('allocates no buffer while nothing on disk extends the hashed prefix', async () => {
    const { file } = standIn(Buffer.alloc(6 * MIB, 7));
    const alloc = jest.spyOn(Buffer, 'allocUnsafe');
    try {
      const hasher = new PrefixHasher(file, () => undefined);
      hasher.poke(); // what a new VersionFetcher of an uncached version does
      await settle();
      expect(alloc.mock.calls.filter(([n]) => n >= MIB)).toEqual([]);
    } finally {
      alloc.mockRestore();
    }
  });

  it('hashes bytes that landed out of order from disk, and reports the whole file digest', async () => {
    const bytes = Buffer.alloc(6 * MIB);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) & 0xff;
    const { file, present } = standIn(bytes);
    let digest: string | undefined;
    const hasher = new PrefixHasher(file, (d) => (digest = d));
    present.add(2 * MIB, 6 * MIB); // the tail first: nothing to hash yet
    hasher.poke();
    await settle();
    expect(digest).toBeUndefined();
    present.add(0, 2 * MIB);
    hasher.poke();
    await settle();
    expect(digest).toBe(new QuickXorHash().update(bytes).digest());
  });
});
