// Codecs against the golden fixtures (hand-written from the digest, not produced by our code).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProtocolError } from '../../src/protocol/errors';
import { decodeChangeBody, decodeChangeHeaders } from '../../src/protocol/xml/change-page';
import { decodeChildrenPage } from '../../src/protocol/xml/children-page';
import { decodeGuidResponse, decodePersonalUrl } from '../../src/protocol/xml/discovery';
import { decodePolicy } from '../../src/protocol/xml/policy';
import { decodeRootFolder } from '../../src/protocol/xml/root-folder';

const FIXTURES = join(__dirname, '..', 'fixtures', 'protocol');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

const ROOT = '0f3c9e2a7b7d4c55a1d24b1f6e9c0a11';
const LIST = 'be100e28dd1c4f2f8e83acdb6fffff05';
const ARCHIVE = '3b77a1c2d4e54f6a8b7c6d5e4f30e012';
const DOCS = '9a1e5f3c2b4d4e6f8a7b6c5d4e3f77c0';
const HELLO = 'd9d51e47a2b34c5d9e8f7a6b5c4d6308';
const OLD = '972f0c1d2e3f4a5b8c7d8e9fa0b12b60';

describe('root folder codec (E5)', () => {
  test('decodes the root item and its quota', () => {
    const { item, quota } = decodeRootFolder(fixture('root-folder.xml'));
    expect(item).toEqual({
      kind: 'folder',
      id: ROOT,
      parentId: LIST,
      name: 'RootFolder',
      path: '/RootFolder',
      etag: ROOT,
      created: new Date('2025-03-04T10:11:12Z'),
      modified: new Date('2025-03-04T10:11:12Z'),
      size: 0,
      deleted: false,
    });
    expect(quota).toEqual({ state: 'Normal', used: 22, granted: 107374182400 });
  });

  test('is order-insensitive and ignores unknown elements', () => {
    const xml = `<Folder><Unknown><Deep>x</Deep></Unknown><SpaceGranted>10</SpaceGranted>
      <ParentResourceID>${LIST}</ParentResourceID><RelationshipName>RootFolder</RelationshipName>
      <DateModified>2025-03-04T10:11:12.1234567Z</DateModified><DateCreated>2025-03-04T10:11:12Z</DateCreated>
      <ETag>${ROOT}</ETag><ResourceID>${ROOT.toUpperCase()}</ResourceID><SpaceUsed>1</SpaceUsed></Folder>`;
    const { item, quota } = decodeRootFolder(xml);
    expect(item.id).toBe(ROOT);
    expect(item.modified.toISOString()).toBe('2025-03-04T10:11:12.123Z');
    expect(quota).toEqual({ state: 'Unknown', used: 1, granted: 10 });
  });
});

describe('children page codec (E6)', () => {
  test('decodes the folder and one page of children', () => {
    const page = decodeChildrenPage(fixture('children-page.xml'), true);
    expect(page.folder.id).toBe(ROOT);
    expect(page.hasMore).toBe(true);
    expect(page.items.map((i) => [i.kind, i.id, i.name, i.parentId])).toEqual([
      ['folder', ARCHIVE, 'Archive', ROOT],
    ]);
  });
});

describe('change page codec (E7)', () => {
  test('flattens a nested FullData page, parents before children', () => {
    const { root, items } = decodeChangeBody(fixture('changes-fulldata-nested.xml'));
    expect(root.id).toBe(ROOT);
    expect(items.map((i) => i.id)).toEqual([ARCHIVE, DOCS, HELLO]);
    const hello = items[2]!;
    expect(hello).toEqual({
      kind: 'document',
      id: HELLO,
      parentId: DOCS,
      name: 'hello.txt',
      path: '/RootFolder/Docs/hello.txt',
      etag: '"{D9D51E47-A2B3-4C5D-9E8F-7A6B5C4D6308},1"',
      created: new Date('2025-03-04T10:11:12Z'),
      modified: new Date('2025-03-01T08:00:00Z'),
      size: 11,
      hash: 'aCgDG9jwBhDc4Q1yawMZAAAAAAA=',
      downloadUrl:
        'http://127.0.0.1:8080/personal/alice/_layouts/15/download.aspx?UniqueId=%7Bd9d51e47%2Da2b3%2D4c5d%2D9e8f%2D7a6b5c4d6308%7D&UserAgent=SkySync',
      mimeType: 'text/plain',
      deleted: false,
    });
  });

  test('decodes a flat incremental page with a move+rename and a tombstone', () => {
    const { items } = decodeChangeBody(fixture('changes-flat-incremental.xml'));
    expect(items).toHaveLength(2);
    const [moved, gone] = items;
    expect(moved).toMatchObject({
      id: HELLO,
      parentId: ARCHIVE,
      name: 'hello-v2.txt',
      deleted: false,
      size: 11,
    });
    expect(gone).toMatchObject({ kind: 'document', id: OLD, parentId: DOCS, deleted: true, name: '' });
    expect(gone!.modified.toISOString()).toBe('2025-03-04T10:21:00.000Z');
  });

  test('a NoChanges body is the root without items', () => {
    const { root, items } = decodeChangeBody(fixture('changes-nochanges.xml'));
    expect(root.id).toBe(ROOT);
    expect(items).toEqual([]);
  });

  test('headers: status, token verbatim, HasMoreData in any case', () => {
    const token =
      '4;%234;%231;3;be100e28-dd1c-4f2f-8e83-acdb6fffff05;638766798720000000;6;%23F4;%23;%230;%23';
    expect(
      decodeChangeHeaders(
        { 'x-syncstatus': 'FullData', 'x-synctoken': token, 'x-hasmoredata': 'TRUE' },
        undefined,
      ),
    ).toEqual({ status: 'FullData', token, hasMore: true });
    expect(decodeChangeHeaders({ 'X-SyncStatus': 'nochanges' }, 'tok')).toEqual({
      status: 'NoChanges',
      token: 'tok',
      hasMore: false,
    });
  });

  test('headers: ResyncAction from either spelling, ResetReupload when absent or unknown', () => {
    const h = (extra: Record<string, string>) =>
      decodeChangeHeaders({ 'x-syncstatus': 'ResyncNeeded', ...extra }, 't');
    expect(h({ resyncaction: 'DifferentialUpload' }).resyncAction).toBe('DifferentialUpload');
    expect(h({ 'x-resyncaction': 'Reupload' }).resyncAction).toBe('Reupload');
    expect(h({}).resyncAction).toBe('ResetReupload');
    expect(h({ resyncaction: 'SomethingNew' }).resyncAction).toBe('ResetReupload');
  });

  test('headers: missing or unknown X-SyncStatus, missing token, or a token with spaces are ProtocolErrors', () => {
    expect(() => decodeChangeHeaders({}, undefined)).toThrow(/X-SyncStatus/);
    expect(() => decodeChangeHeaders({ 'x-syncstatus': 'Maybe' }, undefined)).toThrow(ProtocolError);
    expect(() => decodeChangeHeaders({ 'x-syncstatus': 'IncrementalChanges' }, 'old')).toThrow(/X-SyncToken/);
    expect(() =>
      decodeChangeHeaders({ 'x-syncstatus': 'FullData', 'x-synctoken': 'a b\u0001' }, undefined),
    ).toThrow(/X-SyncToken/);
  });
});

describe('policy codec (E4)', () => {
  test('decodes known rules and keeps unknown ones', () => {
    const p = decodePolicy(fixture('policy.xml'));
    expect(p.itemCount).toBe(500);
    expect(p.inlineUploadThreshold).toBe(8388608);
    expect(p.pollingIntervalSeconds).toBe(120);
    expect(p.downloadUrlTemplate).toBe(
      'http://127.0.0.1:8080/personal/alice/_layouts/15/download.aspx?UniqueId={ResourceID}&UserAgent=SkySync',
    );
    expect(p.rules.get('MaxFileSize')).toBe('16106127360');
    expect(p.rules.get('BlockedFileExtensions')).toBe('');
    expect(p.rules.size).toBe(10);
  });

  test('defaults when rules are absent; values stay strings; ItemCount capped at 1000', () => {
    const p = decodePolicy(
      '<PolicyDocument><Rule name="X" value="1e5"/><Rule name="ItemCount" value="5000"/></PolicyDocument>',
    );
    expect(p.rules.get('X')).toBe('1e5');
    expect(p.itemCount).toBe(1000);
    expect(p.inlineUploadThreshold).toBe(8 * 1024 * 1024);
    expect(p.downloadUrlTemplate).toBeUndefined();
    expect(() =>
      decodePolicy('<PolicyDocument><Rule name="ItemCount" value="many"/></PolicyDocument>'),
    ).toThrow(/ItemCount/);
  });
});

describe('discovery JSON codecs (E1–E3)', () => {
  test('GetMyProperties → PersonalUrl without trailing slash', () => {
    expect(decodePersonalUrl(fixture('get-my-properties.json'))).toBe('http://127.0.0.1:8080/personal/alice');
  });

  test('Id responses → 32 hex', () => {
    expect(decodeGuidResponse(fixture('default-library-id.json'), 'E2')).toBe(LIST);
    expect(decodeGuidResponse(fixture('site-id.json'), 'E3')).toBe('5d2445a6f48d4f6cb190640d11e29a93');
    expect(decodeGuidResponse('{"value":"{BE100E28-DD1C-4F2F-8E83-ACDB6FFFFF05}"}', 'E2')).toBe(LIST);
  });

  test('malformed or hostile JSON is a ProtocolError', () => {
    expect(() => decodePersonalUrl('{"d":')).toThrow(ProtocolError);
    expect(() => decodePersonalUrl('{"d":{"PersonalUrl":""}}')).toThrow(/PersonalUrl/);
    expect(() => decodePersonalUrl('{"d":{"PersonalUrl":"javascript:alert(1)"}}')).toThrow(/scheme/);
    expect(() => decodePersonalUrl('{"d":{"PersonalUrl":"https://u:p@h/personal/x"}}')).toThrow(
      /credentials/,
    );
    expect(() => decodeGuidResponse('{"d":{"Id":"1e5"}}', 'E2')).toThrow(/Id/);
    expect(() => decodeGuidResponse('{"__proto__":{"Id":"x"}}', 'E2')).toThrow(ProtocolError);
  });
});
