// `--generate` synthetic libraries over real HTTP: the documented shape (folders by tens, files round-robin, sizes in
// range), deterministic bytes with matching XORHash, SpaceUsed, restart without regenerating, an interrupted
// generation redone, and the FOLDERS,FILES,SIZE[,SEED] syntax.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type GenerateSpec,
  type RunningServer,
  generatedContent,
  generatedNames,
  parseGenerateSpec,
} from '../../src/server';
import { Store } from '../../src/server/store';
import { InvalidInputError } from '../../src/shared/errors';
import { QuickXorHash } from '../../src/shared/quickxorhash';
import { readPage } from './page-reader';
import { Harness, get, libraryDir, sfs } from './server-harness';
import { parseXml, type Node } from './xml-compare';

const SPEC: GenerateSpec = { folders: 12, files: 30, minBytes: 1000, maxBytes: 3000, seed: 7 };

function field(n: Node, name: string): string {
  for (const c of n.children) {
    if (c.name === name) return c.text ?? '';
    const deep = field(c, name);
    if (deep !== '') return deep;
  }
  return '';
}

async function fullListing(srv: RunningServer): Promise<{ xml: string; paths: string[]; ids: string[] }> {
  const res = await get(sfs(srv, 'RootFolder?Filter=changes&MaxItemCount=1000'), {
    'X-ResponseStructure': 'Flat',
  });
  expect(res.headers.get('x-hasmoredata')).toBe('False');
  const xml = await res.text();
  const { entries } = readPage(xml);
  return { xml, paths: entries.map((e) => e.path), ids: entries.map((e) => e.id) };
}

describe('generated libraries (--generate)', () => {
  const h = new Harness();
  afterAll(() => h.cleanup());

  test('folders nest by tens, files go round-robin, bytes and XORHash are deterministic', async () => {
    const srv = await h.start({ generate: SPEC });
    const { xml, paths } = await fullListing(srv);
    const names = generatedNames(SPEC);
    expect(paths).toHaveLength(SPEC.folders + SPEC.files);
    expect(paths).toContain('/RootFolder/folder-0001/folder-0011');
    expect(names.file(10)).toBe('folder-0001/folder-0011/file-000010.bin');
    for (let j = 0; j < SPEC.files; j++) expect(paths).toContain(`/RootFolder/${names.file(j)}`);

    const docs = parseXml(xml)[0]!.children.find((c) => c.name === 'Items')!.children;
    const byPath = new Map(docs.map((d) => [field(d, 'Path'), d]));
    let total = 0;
    for (let j = 0; j < SPEC.files; j++) {
      const doc = byPath.get(`/RootFolder/${names.file(j)}`)!;
      const bytes = generatedContent(SPEC, j);
      total += bytes.length;
      expect(bytes.length).toBeGreaterThanOrEqual(SPEC.minBytes);
      expect(bytes.length).toBeLessThanOrEqual(SPEC.maxBytes);
      expect(Number(field(doc, 'DataSize'))).toBe(bytes.length);
      expect(field(doc, 'XORHash')).toBe(new QuickXorHash().update(bytes).digest());
      if (j % 10 === 3) {
        const res = await get(
          `${srv.siteUrl}/_layouts/15/download.aspx?UniqueId=${field(doc, 'ResourceID')}`,
        );
        expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
      }
    }
    const root = await (await get(sfs(srv, 'RootFolder?web3s.expand=QuotaState'))).text();
    expect(root).toContain(`<SpaceUsed>${total}</SpaceUsed>`);
    // Sizes really vary (a range), and another seed gives other bytes.
    expect(
      new Set(Array.from({ length: SPEC.files }, (_, j) => generatedContent(SPEC, j).length)).size,
    ).toBeGreaterThan(1);
    expect(generatedContent({ ...SPEC, seed: 8 }, 0)).not.toEqual(generatedContent(SPEC, 0));
    await srv.close();
  });

  test('a restart serves the same library instead of generating again', async () => {
    const dataDir = await h.tempDir();
    const first = await h.start({ dataDir, generate: SPEC });
    const before = await fullListing(first);
    await first.close();
    const again = await h.start({ dataDir, generate: { ...SPEC, files: 3 } });
    expect(again.listId).toBe(first.listId);
    expect((await fullListing(again)).ids).toEqual(before.ids);
    await again.close();
  });

  test('an interrupted generation (rows and blobs but no meta) is wiped and redone', async () => {
    const dataDir = await h.tempDir();
    const dir = libraryDir(dataDir);
    fs.mkdirSync(path.join(dir, 'blobs'), { recursive: true });
    const store = new Store(dir);
    store.insertRoot('0'.repeat(32), 0);
    const stray = {
      id: '1'.repeat(32),
      parentId: '0'.repeat(32),
      name: 'half.bin',
      kind: 'document' as const,
      size: 3,
      hash: null,
      mime: null,
      createdMs: 0,
      modifiedMs: 0,
      blob: 'stray.1',
    };
    store.insertRows([stray], 0);
    store.close();
    fs.writeFileSync(path.join(dir, 'blobs', 'stray.1'), 'abc');
    const small: GenerateSpec = { folders: 2, files: 5, minBytes: 10, maxBytes: 10, seed: 1 };
    const srv = await h.start({ dataDir, generate: small });
    const { paths } = await fullListing(srv);
    expect(paths).toHaveLength(7);
    expect(paths.some((p) => p.includes('half.bin'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'blobs', 'stray.1'))).toBe(false);
    expect(fs.readdirSync(path.join(dir, 'blobs'))).toHaveLength(5);
    await srv.close();
  });

  test('a seed folder and --generate exclude each other', async () => {
    const seedDir = await h.seed({ 'a.txt': 'a' });
    await expect(h.start({ seedDir, generate: SPEC })).rejects.toBeInstanceOf(InvalidInputError);
  });

  test('FOLDERS,FILES,SIZE[,SEED] syntax', () => {
    expect(parseGenerateSpec('200,10000,4K')).toEqual({
      folders: 200,
      files: 10000,
      minBytes: 4096,
      maxBytes: 4096,
      seed: 1,
    });
    expect(parseGenerateSpec('0,5,1K-1.5M,9')).toEqual({
      folders: 0,
      files: 5,
      minBytes: 1024,
      maxBytes: 1.5 * 1024 * 1024,
      seed: 9,
    });
    expect(parseGenerateSpec('1,1,2G').maxBytes).toBe(2 * 1024 ** 3);
    for (const bad of ['1,2', 'a,2,4K', '1,2,4Q', '1,2,2K-1K', '1,2,3,4,5', '-1,2,3'])
      expect(() => parseGenerateSpec(bad)).toThrow(InvalidInputError);
  });
});
