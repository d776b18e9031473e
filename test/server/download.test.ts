// E10 downloads at PreAuthURL over real HTTP: full body with validators, byte ranges, 416, If-Range, both UniqueId
// spellings, 404 for folders and unknown ids.
import type { RunningServer } from '../../src/server';
import { quickXorHash } from '../../src/shared/quickxorhash';
import { readPage } from './page-reader';
import { Harness, get, sfs } from './server-harness';
import { parseXml } from './xml-compare';

const SIZE = 3 * 1024 * 1024 + 17; // crosses the 1 MiB read chunks
const BIG = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) BIG[i] = (i * 31 + (i >>> 11)) & 0xff;

describe('E10 download', () => {
  const h = new Harness();
  let srv: RunningServer;
  let url: string;
  let id: string;
  let etag: string;

  beforeAll(async () => {
    srv = await h.start({ seedDir: await h.seed({ 'big.bin': BIG, 'empty.txt': '', folder: null }) });
    const res = await get(sfs(srv, 'RootFolder?Filter=changes&View=SkyDriveSync'), {
      'X-ResponseStructure': 'Flat',
    });
    const xml = await res.text();
    const doc = parseXml(xml)[0]!
      .children.find((c) => c.name === 'Items')!
      .children.find((c) => c.children.some((x) => x.name === 'RelationshipName' && x.text === 'big.bin'))!;
    const stream = doc.children.find((c) => c.name === 'DocumentStreams')!.children[0]!;
    url = stream.children.find((c) => c.name === 'PreAuthURL')!.text!;
    expect(stream.children.find((c) => c.name === 'XORHash')!.text).toBe(quickXorHash(BIG));
    expect(stream.children.find((c) => c.name === 'DataSize')!.text).toBe(String(SIZE));
    id = doc.children.find((c) => c.name === 'ResourceID')!.text!;
    etag = doc.children.find((c) => c.name === 'ETag')!.text!;
  });
  afterAll(() => h.cleanup());

  test('PreAuthURL has the digest shape and serves the whole file with validators', async () => {
    const dashed = `${id.slice(0, 8)}%2D${id.slice(8, 12)}%2D${id.slice(12, 16)}%2D${id.slice(16, 20)}%2D${id.slice(20)}`;
    expect(url).toBe(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=%7B${dashed}%7D&UserAgent=SkySync`);
    const res = await get(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(SIZE));
    expect(res.headers.get('etag')).toBe(etag);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('last-modified')).toBe('Sat, 01 Mar 2025 08:00:00 GMT');
    expect(Buffer.from(await res.arrayBuffer()).equals(BIG)).toBe(true);
  });

  test('the 32-hex UniqueId (policy DownloadUrlTemplate form) works too', async () => {
    const res = await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${id}&UserAgent=SkySync`);
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(SIZE);
  });

  test.each([
    ['bytes=0-9', 0, 9],
    [`bytes=${SIZE - 5}-`, SIZE - 5, SIZE - 1],
    ['bytes=-100', SIZE - 100, SIZE - 1],
    [`bytes=1048570-${SIZE + 1000}`, 1048570, SIZE - 1],
  ])('Range %s → 206 with Content-Range and exactly those bytes', async (range, start, end) => {
    const res = await get(url, { range });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    expect(Buffer.from(await res.arrayBuffer()).equals(BIG.subarray(start, end + 1))).toBe(true);
  });

  test('an unsatisfiable range → 416 with bytes */size', async () => {
    const res = await get(url, { range: `bytes=${SIZE}-` });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${SIZE}`);
    await res.arrayBuffer();
  });

  test('If-Range with the current ETag honours the range; a stale one gets the full 200', async () => {
    const ok = await get(url, { range: 'bytes=0-3', 'if-range': etag });
    expect(ok.status).toBe(206);
    await ok.arrayBuffer();
    const stale = await get(url, { range: 'bytes=0-3', 'if-range': etag.replace(/,\d+"$/, ',99"') });
    expect(stale.status).toBe(200);
    expect(stale.headers.get('content-range')).toBeNull();
    expect((await stale.arrayBuffer()).byteLength).toBe(SIZE);
  });

  test('If-None-Match with the current ETag → 304', async () => {
    const res = await get(url, { 'if-none-match': etag });
    expect(res.status).toBe(304);
  });

  test('an empty file downloads as 200 with length 0', async () => {
    const res = await get(sfs(srv, 'RootFolder?Filter=changes&View=SkyDriveSync'), {
      'X-ResponseStructure': 'Flat',
    });
    const empty = readPage(await res.text()).entries.find((e) => e.name === 'empty.txt')!;
    const dl = await get(`${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${empty.id}`);
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-length')).toBe('0');
    expect((await dl.arrayBuffer()).byteLength).toBe(0);
  });

  test('a folder, an unknown id and a missing UniqueId → 404', async () => {
    const res = await get(sfs(srv, 'RootFolder?Filter=changes&View=SkyDriveSync'), {
      'X-ResponseStructure': 'Flat',
    });
    const folder = readPage(await res.text()).entries.find((e) => e.name === 'folder')!;
    for (const q of [
      `UniqueId=${folder.id}`,
      'UniqueId=%7B00000000%2D0000%2D0000%2D0000%2D000000000000%7D',
      '',
    ]) {
      const r = await get(`${srv.siteUrl}/_layouts/15/download.aspx?${q}`);
      expect(r.status).toBe(404);
      await r.arrayBuffer();
    }
  });
});
