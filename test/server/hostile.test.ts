// The hostile-input corpus (test/fixtures/protocol/hostile-server) and generated attacks against E8: each is a 4xx
// with the SharePoint error body (or a per-item refusal), bounded, the server keeps serving, nothing is created.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningServer } from '../../src/server';
import { Harness, basic, get, libraryDir, sfs } from './server-harness';
import { createDocXml, digestFor, postWrite } from './write-client';

const CORPUS = path.join(__dirname, '..', 'fixtures', 'protocol', 'hostile-server');

describe('hostile write requests', () => {
  const h = new Harness();
  let srv: RunningServer;
  let digest: string;
  let rootId: string;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await h.tempDir();
    srv = await h.start({ dataDir });
    digest = await digestFor(srv);
    rootId = /<ResourceID>([0-9a-f]{32})</.exec(await (await get(sfs(srv, 'RootFolder'))).text())?.[1] ?? '';
  });
  afterAll(() => h.cleanup());

  async function expectLibraryUntouched(): Promise<void> {
    const page = await (await get(sfs(srv, `Items/${rootId}?Depth=0`))).text();
    expect(page).not.toMatch(/<Items>\s*<(Folder|Document)>/);
    const tmp = path.join(libraryDir(dataDir), 'tmp');
    expect(fs.existsSync(tmp) ? fs.readdirSync(tmp) : []).toEqual([]);
    expect(fs.readdirSync(path.dirname(dataDir)).filter((f) => f === 'escape')).toEqual([]);
  }

  const corpus = (name: string): string =>
    fs
      .readFileSync(path.join(CORPUS, name), 'utf8')
      .split('ROOT')
      .join(rootId)
      .replace(/^<\?xml[^>]*>/, '');

  test.each([
    'billion-laughs.xml',
    'external-entity.xml',
    'unclosed.xml',
    'wrong-root.xml',
    'control-char-reference.xml',
  ])('%s is a 400 with the SharePoint error body', async (name) => {
    const res = await postWrite(srv, digest, corpus(name));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<m:error');
    await expectLibraryUntouched();
  });

  test('hostile-names.xml: every item refused on its own, nothing created', async () => {
    const res = await postWrite(srv, digest, corpus('hostile-names.xml'));
    expect(res.status).toBe(200);
    const statuses = [...(await res.text()).matchAll(/<WriteStatus>(\w+)</g)].map((m) => m[1]);
    expect(statuses).toEqual([...Array<string>(5).fill('InvalidName'), 'Failure', 'Failure']);
    await expectLibraryUntouched();
  });

  test.each([
    ['2,000-deep nesting', () => `<Items>${'<X>'.repeat(2000)}${'</X>'.repeat(2000)}</Items>`, 400],
    ['150,000 elements', () => `<Items>${'<a/>'.repeat(150_000)}</Items>`, 413],
    ['a 5 MiB XML part', () => `<Items><!--${'x'.repeat(5 * 1024 * 1024)}--></Items>`, 413],
    [
      'a NUL character reference',
      () => `<Items><Folder><RelationshipName>a&#0;</RelationshipName></Folder></Items>`,
      400,
    ],
  ])('%s is refused', async (_name, make, status) => {
    const res = await postWrite(srv, digest, make());
    expect(res.status).toBe(status);
    expect(await res.text()).toContain('<m:error');
    await expectLibraryUntouched();
  });

  test('binary parts longer or shorter than their DataSize are Failure; nothing is kept', async () => {
    const xml = `<Items>${createDocXml(rootId, 'long.bin', 'l', 4, '')}${createDocXml(rootId, 'short.bin', 's', 400, '')}</Items>`;
    const res = await postWrite(srv, digest, xml.replace(/<XORHash><\/XORHash>/g, ''), [
      { id: 'l', bytes: Buffer.alloc(4000) },
      { id: 's', bytes: Buffer.alloc(4) },
    ]);
    expect([...(await res.text()).matchAll(/<WriteStatus>(\w+)</g)].map((m) => m[1])).toEqual([
      'Failure',
      'Failure',
    ]);
    await expectLibraryUntouched();
  });

  test.each([
    ['no boundary in the body', 'multipart/related; boundary="abc"', 'just some bytes'],
    [
      'cut off mid-part',
      'multipart/related; boundary="abc"',
      '--abc\r\nContent-ID: <LiveFolders>\r\n\r\n<Items>',
    ],
    ['headers that never end', 'multipart/related; boundary="abc"', `--abc\r\n${'X-A: b\r\n'.repeat(5000)}`],
    ['not multipart, not XML', 'application/octet-stream', 'x'],
  ])('a multipart body with %s is a 400', async (_n, type, body) => {
    const res = await fetch(sfs(srv, 'RootFolder'), {
      method: 'POST',
      headers: { authorization: basic(), 'x-requestdigest': digest, 'content-type': type },
      body,
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<m:error');
    await expectLibraryUntouched();
  });
});
