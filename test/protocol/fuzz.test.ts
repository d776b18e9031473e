// Fuzz (fast-check): random and mutated XML/JSON fed to every decoder must give a typed error (ProtocolError) or a
// valid result, never any other exception.
import * as fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProtocolError } from '../../src/protocol/errors';
import { decodeSingleItem } from '../../src/protocol/sp-client';
import { decodeChangeBody, decodeChangeHeaders } from '../../src/protocol/xml/change-page';
import { decodeChildrenPage } from '../../src/protocol/xml/children-page';
import { decodeContextInfo } from '../../src/protocol/xml/context-info';
import { decodeGuidResponse, decodePersonalUrl } from '../../src/protocol/xml/discovery';
import { decodePolicy } from '../../src/protocol/xml/policy';
import { decodeRootFolder } from '../../src/protocol/xml/root-folder';
import { decodeNotification, decodeSubscription } from '../../src/protocol/xml/subscription';
import { decodeWriteResponse } from '../../src/protocol/xml/write-items';
import type { WriteOp } from '../../src/protocol/types';
import type { ETag, ItemId } from '../../src/shared/ids';

const FIXTURES = join(__dirname, '..', 'fixtures', 'protocol');
const seeds = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.xml') || f.endsWith('.json'))
  .map((f) => readFileSync(join(FIXTURES, f), 'utf8'));
const ID = '0123456789abcdef0123456789abcdef' as ItemId;
const OPS: WriteOp[] = [
  { op: 'createFolder', parentId: ID, name: 'a' },
  { op: 'delete', item: { id: ID, etag: '"x"' as ETag, kind: 'document' } },
];

const DECODERS: Record<string, (body: string) => unknown> = {
  changeBody: decodeChangeBody,
  children: (b) => decodeChildrenPage(b, false),
  root: decodeRootFolder,
  policy: decodePolicy,
  item: decodeSingleItem,
  write: (b) => decodeWriteResponse(b, OPS),
  subscription: (b) => decodeSubscription(b, 'http://127.0.0.1:1/personal/a'),
  notification: decodeNotification,
  contextInfo: decodeContextInfo,
  personalUrl: decodePersonalUrl,
  guid: (b) => decodeGuidResponse(b, 'guid'),
  changeHeaders: (b) =>
    decodeChangeHeaders(
      { 'x-syncstatus': b.slice(0, 30), 'x-synctoken': b.slice(30, 90), resyncaction: b.slice(90, 120) },
      undefined,
    ),
};

const TAGS = [
  'Folder',
  'Document',
  'Items',
  'ResourceID',
  'ParentResourceID',
  'ETag',
  'DataSize',
  'WriteStatus',
  'Subscription',
  'SubscriptionId',
  'ChannelUrl',
  'Rule',
  'PolicyDocument',
  'DocumentStreams',
  'DocumentStream',
  'Notification',
  'IsDeleted',
  'ModifierIdentity',
];

/** A mutation of a seed: cut, splice random text, duplicate or drop a slice, swap a tag name. */
const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.nat(),
    fc.nat(),
    fc.string({ maxLength: 40 }),
    fc.constantFrom(...TAGS),
    fc.nat(4),
  )
  .map(([seed, a, b, text, tag, how]) => {
    const i = a % (seed.length + 1);
    const j = i + (b % 200);
    switch (how) {
      case 0:
        return seed.slice(0, i);
      case 1:
        return seed.slice(0, i) + text + seed.slice(i);
      case 2:
        return seed.slice(0, j) + seed.slice(i, j) + seed.slice(j);
      case 3:
        return seed.slice(0, i) + seed.slice(j);
      default:
        return seed.replace(/<(\/?)[A-Za-z.]+/, `<$1${tag}`);
    }
  });
const randomXml = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 20 }).map((s) => s.replace(/[<&]/g, '')),
    fc
      .tuple(fc.constantFrom(...TAGS), fc.array(tie('node'), { maxLength: 4 }))
      .map(([t, kids]) => `<${t}>${(kids as string[]).join('')}</${t}>`),
  ),
})).node;

function check(body: string): void {
  for (const [name, decode] of Object.entries(DECODERS)) {
    try {
      decode(body);
    } catch (err) {
      if (!(err instanceof ProtocolError)) {
        throw new Error(`${name} threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`, {
          cause: err,
        });
      }
    }
  }
}

describe('decoders under fuzzing', () => {
  test('mutated fixtures: a typed error or a result, never another exception', () => {
    fc.assert(
      fc.property(mutated, (body) => check(body)),
      { numRuns: 400 },
    );
  });

  test('random XML trees and random strings: a typed error or a result', () => {
    fc.assert(
      fc.property(fc.oneof(randomXml, fc.string({ maxLength: 300 })), (body) => check(body)),
      { numRuns: 400 },
    );
  });
});
