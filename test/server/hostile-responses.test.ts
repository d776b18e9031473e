// The hostile corpus in process: the real server (fault kind `hostile`) answers each case over HTTP, and the client's
// own codecs and item screen take it as the daemon would — the page refused, or the hostile items left out with a
// warning naming them and the rest kept; downloads that lie in the way each case says.
// test/reliability/hostile-server.test.ts serves the same cases to a real daemon through a mount.
import * as path from 'node:path';
import { MetadataStore } from '../../src/cache/metadata-store';
import { ProtocolError } from '../../src/protocol/errors';
import { decodeChangeBody } from '../../src/protocol/xml/change-page';
import type { RunningServer } from '../../src/server';
import { type HostileCase, hostileItemId } from '../../src/server/hostile-responses';
import { screenItems, toStoredItem } from '../../src/sync/item-screen';
import { capturingLogger, TempDirs } from '../helpers/temp-dirs';
import { Harness, basic, get, sfs } from './server-harness';

const TOKEN = 'hostile-test-admin-token';
const CONTENT = Buffer.from('0123456789'.repeat(1000));

describe('hostile corpus (in-process server, client codecs)', () => {
  const h = new Harness();
  const dirs = new TempDirs();
  let srv: RunningServer;

  beforeAll(async () => {
    const seedDir = await h.seed({ Docs: null, 'Docs/a.bin': CONTENT });
    srv = await h.start({ seedDir, adminToken: TOKEN });
  });
  afterAll(async () => {
    await h.cleanup();
    dirs.cleanup();
  });

  async function arm(c: HostileCase, pathRe: string, extra: Record<string, unknown> = {}): Promise<void> {
    const res = await fetch(`${srv.origin}/_spfs/admin/faults`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'hostile', case: c, path: pathRe, ...extra }),
    });
    expect(res.status).toBe(201);
  }

  const changesUrl = (): string =>
    sfs(srv, 'RootFolder?Filter=changes&InlineBlobs=false&MaxItemCount=500&View=SkyDriveSync');

  /** A client store holding the honest library (root, Docs, a.bin), as after a first sync. */
  async function clientStore() {
    const { logger, lines } = capturingLogger();
    const store = MetadataStore.open(path.join(dirs.make(), 'meta.sqlite'), { logger });
    const honest = decodeChangeBody(await (await get(changesUrl())).text());
    const rootId = honest.root.id;
    store.applyBatch([toStoredItem(honest.root), ...honest.items.map(toStoredItem)], [], {
      libraryKey: 'k',
      listId: srv.listId,
      rootId,
      token: null,
    });
    return { store, rootId, logger, lines, docs: honest.items.find((i) => i.name === 'Docs')! };
  }

  test.each([
    ['billion-laughs', /DOCTYPE/],
    ['external-entity', /DOCTYPE/],
    ['deep-nesting', /nested/i],
  ] as const)('%s: the page is refused with a ProtocolError', async (c, message) => {
    await arm(c, 'Filter=changes');
    const res = await get(changesUrl());
    expect(res.headers.get('x-synctoken')).not.toBeNull(); // the real headers stay
    const body = await res.text();
    expect(() => decodeChangeBody(body)).toThrow(ProtocolError);
    expect(() => decodeChangeBody(body)).toThrow(message);
  });

  test('endless-xml: a chunked body that does not end (read 8 MiB of it)', async () => {
    await arm('endless-xml', 'Filter=changes');
    const res = await get(changesUrl());
    expect(res.headers.get('content-length')).toBeNull();
    const reader = res.body!.getReader();
    let seen = 0;
    while (seen < 8 * 1024 * 1024) seen += (await reader.read()).value?.length ?? 0;
    await reader.cancel();
    expect(seen).toBeGreaterThanOrEqual(8 * 1024 * 1024);
  });

  test('endless-paging: X-HasMoreData True with the token that was asked with', async () => {
    const first = await get(changesUrl());
    const token = first.headers.get('x-synctoken')!;
    await arm('endless-paging', 'Filter=changes');
    const res = await get(`${changesUrl()}&SyncToken=${encodeURIComponent(token)}`);
    expect(res.headers.get('x-hasmoredata')).toBe('True');
    expect(res.headers.get('x-synctoken')).toBe(token);
  });

  test.each([
    'huge-size',
    'name-dotdot',
    'name-slash',
    'name-backslash',
    'name-nul',
    'name-long',
    'duplicate-id',
    'self-parent',
    'parent-cycle',
  ] as const)('%s: the hostile items are left out, each named; the honest ones stay', async (c) => {
    const { store, rootId, logger, lines, docs } = await clientStore();
    await arm(c, 'Filter=changes');
    const page = decodeChangeBody(await (await get(changesUrl())).text());
    for (const r of page.rejected) logger.warn({ id: r.id, reason: r.reason }, 'rejected'); // as SpClient does
    const screened = screenItems(page.items, { store, rootId, logger });
    const hostile = c === 'parent-cycle' ? [hostileItemId(c), docs.id] : [hostileItemId(c)];
    const named = (id: string): boolean => lines.some((l) => l.level === 40 && l.id === id);
    if (c === 'parent-cycle') {
      // The new folder inside Docs is fine; Docs moving into it is the refused part.
      expect(screened.upserts.find((u) => u.id === docs.id)).toBeUndefined();
      expect(named(docs.id)).toBe(true);
    } else {
      for (const id of hostile) {
        expect(screened.upserts.find((u) => u.id === id)).toBeUndefined();
        expect(named(id)).toBe(true);
      }
    }
    expect(screened.upserts.map((u) => u.name)).toEqual(expect.arrayContaining(['a.bin']));
    store.close();
  });

  const downloadUrl = async (): Promise<string> => {
    const body = await (await get(changesUrl())).text();
    return /<PreAuthURL>([^<]+)</.exec(body)![1]!.replace(/&amp;/g, '&');
  };

  test.each([
    ['short-body', (b: Buffer) => b.length === CONTENT.length / 2],
    [
      'long-body',
      (b: Buffer) => b.length === CONTENT.length + 4096 && b.subarray(0, CONTENT.length).equals(CONTENT),
    ],
    ['wrong-hash', (b: Buffer) => b.length === CONTENT.length && !b.equals(CONTENT)],
  ] as const)('%s: a download that lies', async (c, lies) => {
    const url = await downloadUrl();
    await arm(c, 'download\\.aspx');
    const res = await get(url, { range: `bytes=0-${CONTENT.length - 1}` });
    expect(res.status).toBe(c === 'wrong-hash' ? 206 : 200);
    expect(lies(Buffer.from(await res.arrayBuffer()))).toBe(true);
  });

  test('redirect: 302 to the given origin', async () => {
    const url = await downloadUrl();
    await arm('redirect', 'download\\.aspx', { location: 'http://127.0.0.1:9/steal' });
    const res = await fetch(url, { headers: { authorization: basic() }, redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('http://127.0.0.1:9/steal');
  });

  test('endless-body: a chunked download that goes on past DataSize', async () => {
    const url = await downloadUrl();
    await arm('endless-body', 'download\\.aspx');
    const res = await get(url);
    const reader = res.body!.getReader();
    let seen = 0;
    while (seen < 4 * CONTENT.length) seen += (await reader.read()).value?.length ?? 0;
    await reader.cancel();
    expect(seen).toBeGreaterThan(CONTENT.length);
  });

  test('a hostile rule needs a known case', async () => {
    const res = await fetch(`${srv.origin}/_spfs/admin/faults`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'hostile', case: 'nope' }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/case must be one of/);
  });
});
