// Hostile and broken server input: each one must end in a ProtocolError naming what is wrong, quickly.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROTOCOL_ERROR_CODES, ProtocolError } from '../../src/protocol/errors';
import { decodeChangeBody } from '../../src/protocol/xml/change-page';
import { MAX_BODY_BYTES } from '../../src/protocol/xml/parser';
import { decodePolicy } from '../../src/protocol/xml/policy';
import { decodeRootFolder } from '../../src/protocol/xml/root-folder';

const hostile = (name: string): string =>
  readFileSync(join(__dirname, '..', 'fixtures', 'protocol', 'hostile', name), 'utf8');

function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as ProtocolError).code).toBe(PROTOCOL_ERROR_CODES.protocol);
    expect((err as ProtocolError).retryable).toBe(false);
    return err as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

const ROOT_ELEMENTS = `<ResourceID>0f3c9e2a7b7d4c55a1d24b1f6e9c0a11</ResourceID><ETag>e</ETag>
  <DateCreated>2025-03-04T10:11:12Z</DateCreated><DateModified>2025-03-04T10:11:12Z</DateModified>
  <RelationshipName>RootFolder</RelationshipName><ParentResourceID>be100e28dd1c4f2f8e83acdb6fffff05</ParentResourceID>`;

/** A document element with the given DataSize, under the root of ROOT_ELEMENTS. */
const doc = (id: string, size: string): string => `<Document><ResourceID>${id}</ResourceID><ETag>x</ETag>
  <DateCreated>2025-03-04T10:11:12Z</DateCreated><DateModified>2025-03-04T10:11:12Z</DateModified>
  <RelationshipName>${id.slice(0, 4)}.bin</RelationshipName><ParentResourceID>0f3c9e2a7b7d4c55a1d24b1f6e9c0a11</ParentResourceID>
  <DocumentStreams><DocumentStream><DataSize>${size}</DataSize></DocumentStream></DocumentStreams></Document>`;

describe('hostile XML', () => {
  test('a DOCTYPE with entity expansion (billion laughs) is refused outright', () => {
    expect(protocolError(() => decodeRootFolder(hostile('billion-laughs.xml'))).message).toMatch(/DOCTYPE/);
  });

  test('truncated XML', () => {
    expect(protocolError(() => decodeChangeBody(hostile('truncated.xml'))).message).toMatch(
      /(malformed|unparsable) XML/,
    );
  });

  test('an item with a non-hex ResourceID is left out of the page, the value named in the reason', () => {
    const { items, rejected } = decodeChangeBody(hostile('bad-resource-id.xml'));
    expect(items).toEqual([]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.id).toBeUndefined();
    expect(rejected[0]!.reason).toMatch(/ResourceID/);
    expect(rejected[0]!.reason).toMatch(/etc\/passwd/);
  });

  test('an item without a ResourceID is left out of the page with the reason', () => {
    const { rejected } = decodeChangeBody(hostile('missing-resource-id.xml'));
    expect(rejected.map((r) => r.reason)).toEqual([
      expect.stringMatching(/missing required element <ResourceID>/),
    ]);
  });

  test('a DataSize of 2^63 leaves that document out, named by its ResourceID; the rest of the page stays', () => {
    const { items, rejected } = decodeChangeBody(
      `<Folder>${ROOT_ELEMENTS}<Items>${doc('d9d51e47a2b34c5d9e8f7a6b5c4d6308', '9223372036854775808')}` +
        `${doc('aa51e47a2b34c5d9e8f7a6b5c4d63080', '12')}</Items></Folder>`,
    );
    expect(items.map((i) => [i.id, i.size])).toEqual([['aa51e47a2b34c5d9e8f7a6b5c4d63080', 12]]);
    expect(rejected).toEqual([
      { id: 'd9d51e47a2b34c5d9e8f7a6b5c4d6308', reason: expect.stringMatching(/DataSize/) as string },
    ]);
  });

  test('a huge element depth is refused', () => {
    expect(protocolError(() => decodeChangeBody(hostile('deep-nesting.xml'))).message).toMatch(/nested/i);
  });

  test('more than one root element, or the wrong root', () => {
    protocolError(() =>
      decodeRootFolder(`<Folder>${ROOT_ELEMENTS}</Folder><Folder>${ROOT_ELEMENTS}</Folder>`),
    );
    expect(protocolError(() => decodeRootFolder(`<Document>${ROOT_ELEMENTS}</Document>`)).message).toMatch(
      /<Folder>/,
    );
    protocolError(() => decodeRootFolder(''));
  });

  test('prototype-polluting element names are refused, not merged', () => {
    protocolError(() =>
      decodeRootFolder(`<Folder>${ROOT_ELEMENTS}<__proto__><polluted>1</polluted></__proto__></Folder>`),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('bodies above the size cap are refused before parsing', () => {
    const big = `<Folder>${' '.repeat(MAX_BODY_BYTES)}</Folder>`;
    expect(protocolError(() => decodeRootFolder(big)).message).toMatch(/larger than/);
  });

  test('a document without a content stream, a non-numeric DataSize (left out); a bad date on the root', () => {
    const doc = (inner: string) => `<Folder>${ROOT_ELEMENTS}<Items><Document>
      <ResourceID>d9d51e47a2b34c5d9e8f7a6b5c4d6308</ResourceID><ETag>x</ETag>
      <DateCreated>2025-03-04T10:11:12Z</DateCreated><DateModified>2025-03-04T10:11:12Z</DateModified>
      <RelationshipName>a</RelationshipName><ParentResourceID>0f3c9e2a7b7d4c55a1d24b1f6e9c0a11</ParentResourceID>
      ${inner}</Document></Items></Folder>`;
    const reasons = (body: string): string[] => decodeChangeBody(body).rejected.map((r) => r.reason);
    expect(reasons(doc(''))).toEqual([expect.stringMatching(/DocumentStream/)]);
    expect(
      reasons(
        doc('<DocumentStreams><DocumentStream><DataSize>1e5</DataSize></DocumentStream></DocumentStreams>'),
      ),
    ).toEqual([expect.stringMatching(/DataSize/)]);
    expect(
      protocolError(() =>
        decodeRootFolder(
          ROOT_ELEMENTS.replace('2025-03-04T10:11:12Z', 'yesterday').replace(/^/, '<Folder>') + '</Folder>',
        ),
      ).message,
    ).toMatch(/DateCreated/);
  });

  test('values stay strings: a name like 1e5 and surrounding spaces are kept raw', () => {
    const { items } = decodeChangeBody(`<Folder>${ROOT_ELEMENTS}<Items><Folder>
      <ResourceID>3b77a1c2d4e54f6a8b7c6d5e4f30e012</ResourceID><ETag>e</ETag>
      <DateCreated>2025-03-04T10:11:12Z</DateCreated><DateModified>2025-03-04T10:11:12Z</DateModified>
      <RelationshipName> 1e5 &amp; &#x41;</RelationshipName><ParentResourceID>0f3c9e2a7b7d4c55a1d24b1f6e9c0a11</ParentResourceID>
      </Folder></Items></Folder>`);
    expect(items[0]!.name).toBe(' 1e5 & A');
  });

  test('a character reference to NUL or another control stays in the name (not dropped), for the layer above', () => {
    const named = (raw: string): string =>
      decodeChangeBody(`<Folder>${ROOT_ELEMENTS}<Items><Folder>
      <ResourceID>3b77a1c2d4e54f6a8b7c6d5e4f30e012</ResourceID><ETag>e</ETag>
      <DateCreated>2025-03-04T10:11:12Z</DateCreated><DateModified>2025-03-04T10:11:12Z</DateModified>
      <RelationshipName>${raw}</RelationshipName><ParentResourceID>0f3c9e2a7b7d4c55a1d24b1f6e9c0a11</ParentResourceID>
      </Folder></Items></Folder>`).items[0]!.name;
    expect(named('nul&#0;name')).toBe('nul\u0000name');
    expect(named('a&#x1F;b&#127;')).toBe('a\u001fb\u007f');
    expect(named('&amp;#0; &#65;')).toBe('&#0; A');
  });

  test('unsafe names are passed up unchanged (the layer above decides)', () => {
    const { items } = decodeChangeBody(`<Folder>${ROOT_ELEMENTS}<Items><Folder>
      <ResourceID>3b77a1c2d4e54f6a8b7c6d5e4f30e012</ResourceID><ETag>e</ETag>
      <DateCreated>2025-03-04T10:11:12Z</DateCreated><DateModified>2025-03-04T10:11:12Z</DateModified>
      <RelationshipName>..</RelationshipName><ParentResourceID>0f3c9e2a7b7d4c55a1d24b1f6e9c0a11</ParentResourceID>
      </Folder></Items></Folder>`);
    expect(items[0]!.name).toBe('..');
  });

  test('a policy rule without a name', () => {
    expect(
      protocolError(() => decodePolicy('<PolicyDocument><Rule value="1"/></PolicyDocument>')).message,
    ).toMatch(/Rule/);
  });
});
