// E9 BITS sessions over real HTTP: Create-Session/Fragment/Close/Cancel acks, 416 on a gap, resent overlap,
// commit through E8 by FragmentSessionId with DataSize+XORHash verified, other users' sessions, idle expiry.
import type { RunningServer } from '../../src/server';
import { QuickXorHash } from '../../src/shared/quickxorhash';
import { Harness, TestClock, basic, get, sfs } from './server-harness';
import { bitsPacket, createDocXml, digestFor, postWrite } from './write-client';

const PROTOCOL = '{7df0354d-249b-430f-820d-3d2a9bef4931}';

describe('E9 BITS upload sessions', () => {
  const h = new Harness();
  let srv: RunningServer;
  let digest: string;
  let clock: TestClock;
  let rootId: string;

  beforeEach(async () => {
    clock = new TestClock();
    srv = await h.start({ clock });
    digest = await digestFor(srv);
    const root = await (await get(sfs(srv, 'RootFolder?View=SkyDriveSync'))).text();
    rootId = /<ResourceID>([0-9a-f]{32})</.exec(root)?.[1] ?? '';
  });
  afterEach(() => h.cleanup());

  async function createSession(): Promise<string> {
    const res = await bitsPacket(srv, digest, 'Create-Session', { 'BITS-Supported-Protocols': PROTOCOL });
    expect(res.status).toBe(200);
    expect(res.headers.get('bits-packet-type')).toBe('Ack');
    expect(res.headers.get('bits-protocol')).toBe(PROTOCOL);
    const id = res.headers.get('bits-session-id') ?? '';
    expect(id).toMatch(/^\{[0-9a-f-]{36}\}$/);
    return id;
  }

  const fragment = (id: string, data: Buffer, a: number, total: number) =>
    bitsPacket(
      srv,
      digest,
      'Fragment',
      { 'BITS-Session-Id': id, 'Content-Range': `bytes ${a}-${a + data.length - 1}/${total}` },
      data,
    );

  test('fragments, a gap (416), a resent overlap, then the E8 commit creates the file', async () => {
    const bytes = Buffer.from('0123456789abcdefghijklmnopqrstuvwxy'); // 35 bytes
    const id = await createSession();
    const f1 = await fragment(id, bytes.subarray(0, 10), 0, 35);
    expect(f1.status).toBe(200);
    expect(f1.headers.get('bits-received-content-range')).toBe('10');
    const gap = await fragment(id, bytes.subarray(20, 35), 20, 35);
    expect(gap.status).toBe(416);
    expect(gap.headers.get('bits-received-content-range')).toBe('10');
    const overlap = await fragment(id, bytes.subarray(5, 25), 5, 35);
    expect(overlap.headers.get('bits-received-content-range')).toBe('25');
    const last = await fragment(id, bytes.subarray(25), 25, 35);
    expect(last.headers.get('bits-received-content-range')).toBe('35');
    const hash = new QuickXorHash().update(bytes).digest();
    const frag = id.replace(/[{}]/g, '');
    const wrong = await postWrite(
      srv,
      digest,
      `<Items>${createDocXml(rootId, 'big.bin', frag, 35, 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=')}</Items>`,
    );
    expect(await wrong.text()).toContain('<WriteStatus>Failure</WriteStatus>'); // hash mismatch: no version
    const res = await postWrite(
      srv,
      digest,
      `<Items>${createDocXml(rootId, 'big.bin', frag, 35, hash)}</Items>`,
    );
    const text = await res.text();
    expect(text).toContain('<WriteStatus>Success</WriteStatus>');
    const newId = /<ResourceID>([0-9a-f]{32})</.exec(text)?.[1] ?? '';
    expect(
      Buffer.from(
        await (await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${newId}`)).arrayBuffer(),
      ),
    ).toEqual(bytes);
    const closed = await bitsPacket(srv, digest, 'Close-Session', { 'BITS-Session-Id': id });
    expect(closed.status).toBe(404); // spent by the commit
    expect(closed.headers.get('bits-error-code')).toBe('0x8020001F');
  });

  test('multi-MiB fragments with a resent overlap are stored and hashed exactly (batched writes, running hash)', async () => {
    const MiB = 1024 * 1024;
    const bytes = Buffer.alloc(9 * MiB + 7);
    for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
    const id = await createSession();
    const first = await fragment(id, bytes.subarray(0, 6 * MiB), 0, bytes.length);
    expect(first.headers.get('bits-received-content-range')).toBe(String(6 * MiB));
    const rest = await fragment(id, bytes.subarray(3 * MiB), 3 * MiB, bytes.length);
    expect(rest.headers.get('bits-received-content-range')).toBe(String(bytes.length));
    const hash = new QuickXorHash().update(bytes).digest();
    const frag = id.replace(/[{}]/g, '');
    const res = await postWrite(
      srv,
      digest,
      `<Items>${createDocXml(rootId, 'big9.bin', frag, bytes.length, hash)}</Items>`,
    );
    const text = await res.text();
    expect(text).toContain('<WriteStatus>Success</WriteStatus>');
    const newId = /<ResourceID>([0-9a-f]{32})</.exec(text)?.[1] ?? '';
    const got = Buffer.from(
      await (await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${newId}`)).arrayBuffer(),
    );
    expect(got.equals(bytes)).toBe(true);
  });

  test('Cancel-Session drops it; an incomplete session cannot be committed; no digest is a 403', async () => {
    const id = await createSession();
    await fragment(id, Buffer.from('abc'), 0, 10);
    const frag = id.replace(/[{}]/g, '');
    const early = await postWrite(
      srv,
      digest,
      `<Items>${createDocXml(rootId, 'x.bin', frag, 10, 'x')}</Items>`,
    );
    expect(await early.text()).toContain('<WriteStatus>Failure</WriteStatus>');
    const close = await bitsPacket(srv, digest, 'Close-Session', { 'BITS-Session-Id': id });
    expect(close.status).toBe(200);
    const cancel = await bitsPacket(srv, digest, 'Cancel-Session', { 'BITS-Session-Id': id });
    expect(cancel.status).toBe(200);
    expect((await fragment(id, Buffer.from('def'), 3, 10)).status).toBe(404);
    const noDigest = await fetch(sfs(srv, 'RootFolder'), {
      method: 'POST',
      headers: { authorization: basic(), 'x-http-method-override': 'BITS_POST', 'bits-packet-type': 'Ping' },
    });
    expect(noDigest.status).toBe(403);
  });

  test('idle sessions expire after 24 h', async () => {
    const id = await createSession();
    expect((await fragment(id, Buffer.from('abc'), 0, 10)).status).toBe(200);
    clock.ms += 24 * 3600 * 1000 + 1000;
    digest = await digestFor(srv);
    expect((await fragment(id, Buffer.from('def'), 3, 10)).status).toBe(404);
  });
});
