// MD4 (RFC 1320) for NTLM's NT hash. Node 20's OpenSSL 3 ships MD4 only in its legacy provider, usually absent, so
// this uses hash-wasm (maintained, dependency-free, WebAssembly); its hasher is created once and reused.
import { createMD4, type IHasher } from 'hash-wasm';

let hasher: Promise<IHasher> | undefined;

/** MD4 digest (16 bytes) of `data`. */
export async function md4(data: Uint8Array): Promise<Buffer> {
  const h = await (hasher ??= createMD4());
  h.init();
  h.update(data);
  return Buffer.from(h.digest('binary'));
}
