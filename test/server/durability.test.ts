// kill -9 durability of `bin/spfs serve` (child process, needs `npm run build`): SIGKILL while an inline multipart
// upload and a BITS fragment are both mid-body, restart on the same data dir: committed items keep ids, ETags and
// the change log; the interrupted upload is absent; no temp files; the BITS session resumes from its last Ack.
// Also the settings flags and --mark-restored of `spfs serve`.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { QuickXorHash } from '../../src/shared/quickxorhash';
import { type ServerProcess, makeTempDir, startServerProcess } from '../helpers/spfs-processes';
import { readPage } from './page-reader';
import { createDocXml, multipartBody } from './write-client';

const PROTOCOL = '{7df0354d-249b-430f-820d-3d2a9bef4931}';
const FLAGS = ['--max-file-size', '64M', '--blocked-extensions', 'exe,PST', '--item-count', '7'];

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('kill -9 durability of spfs serve', () => {
  const base = makeTempDir('durability');
  const dataDir = path.join(base, 'data');
  const libDir = path.join(dataDir, 'libraries', 'personal-tester');
  let srv: ServerProcess;
  // Every start gets a new password (startServerProcess): always use the current process's.
  const auth = (): string => `Basic ${Buffer.from(`tester:${srv.password}`).toString('base64')}`;
  const listId = async (): Promise<string> => {
    const r = await fetch(`${srv.url}/_api/web/DefaultDocumentLibrary/ID`, {
      headers: { authorization: auth() },
    });
    return ((await r.json()) as { d: { Id: string } }).d.Id.replace(/-/g, '');
  };
  let sfs = '';
  const get = (rest: string): Promise<Response> =>
    fetch(`${sfs}/${rest}`, { headers: { authorization: auth() } });
  const digest = async (): Promise<string> => {
    const r = await fetch(`${srv.url}/_api/contextinfo`, {
      method: 'POST',
      headers: { authorization: auth() },
    });
    return ((await r.json()) as { d: { GetContextWebInformation: { FormDigestValue: string } } }).d
      .GetContextWebInformation.FormDigestValue;
  };
  const post = (body: Buffer, headers: Record<string, string>): Promise<Response> =>
    fetch(`${sfs}/RootFolder`, { method: 'POST', headers: { authorization: auth(), ...headers }, body });
  const start = async (extra: string[] = []): Promise<void> => {
    srv = await startServerProcess({ dataDir, extraArgs: [...FLAGS, ...extra] });
    sfs = `${srv.url}/_api/SPFileSync/sync/${await listId()}`;
  };
  /** Full listing (flat) as ResourceID → ETag (root included), and the final token. */
  const snapshot = async (): Promise<{ etags: Map<string, string>; token: string }> => {
    const etags = new Map<string, string>();
    let token = '';
    for (let i = 0; i < 50; i++) {
      const r = await fetch(`${sfs}/RootFolder?Filter=changes${token ? `&SyncToken=${token}` : ''}`, {
        headers: { authorization: auth(), 'X-ResponseStructure': 'Flat' },
      });
      const xml = await r.text();
      for (const m of xml.matchAll(/<ResourceID>(\w+)<\/ResourceID><ETag>([^<]*)<\/ETag>/g))
        etags.set(m[1] ?? '', m[2] ?? '');
      token = r.headers.get('x-synctoken') ?? '';
      if (r.headers.get('x-hasmoredata') !== 'True') return { etags, token };
    }
    throw new Error('listing did not end');
  };

  afterAll(async () => {
    await srv?.stop();
    fs.rmSync(base, { recursive: true, force: true });
  });

  test('committed writes survive SIGKILL mid-upload; the interrupted one is gone; BITS resumes', async () => {
    fs.mkdirSync(dataDir, { recursive: true });
    await start();
    // The settings flags reach the policy document.
    const policy = await (await get('policy/')).text();
    expect(policy).toContain('<Rule name="MaxFileSize" value="67108864"/>');
    expect(policy).toContain('<Rule name="BlockedFileExtensions" value=".exe;.pst"/>');
    expect(policy).toContain('<Rule name="ItemCount" value="7"/>');

    const rootXml = await (await get('RootFolder')).text();
    const rootId = /<ResourceID>([0-9a-f]{32})</.exec(rootXml)?.[1] ?? '';
    const d = await digest();
    const inline = async (name: string, bytes: Buffer): Promise<string> => {
      const hash = new QuickXorHash().update(bytes).digest();
      const { body, contentType } = multipartBody(
        `<Items>${createDocXml(rootId, name, 'p', bytes.length, hash)}</Items>`,
        [{ id: 'p', bytes }],
      );
      const res = await post(body, { 'content-type': contentType, 'x-requestdigest': d });
      return /<WriteStatus>(\w+)</.exec(await res.text())?.[1] ?? String(res.status);
    };
    for (let i = 0; i < 5; i++)
      expect(await inline(`kept-${i}.bin`, Buffer.alloc(1000 + i, i))).toBe('Success');
    const before = await snapshot();
    expect(before.etags.size).toBe(6); // the root and five files

    // A BITS session with 1 MiB acknowledged.
    const bits = (type: string, headers: Record<string, string> = {}, body?: Buffer) =>
      post(body ?? Buffer.alloc(0), {
        'x-requestdigest': d,
        'x-http-method-override': 'BITS_POST',
        'bits-packet-type': type,
        ...headers,
      });
    const created = await bits('Create-Session', { 'BITS-Supported-Protocols': PROTOCOL });
    const session = created.headers.get('bits-session-id') ?? '';
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    const range = (a: number, b: number) => `bytes ${a}-${b - 1}/${big.length}`;
    const MIB = 1024 * 1024;
    const first = await bits(
      'Fragment',
      { 'BITS-Session-Id': session, 'Content-Range': range(0, MIB) },
      big.subarray(0, MIB),
    );
    expect(first.headers.get('bits-received-content-range')).toBe(String(MIB));

    // Two uploads left hanging mid-body: an inline multipart part and the next BITS fragment.
    const url = new URL(`${sfs}/RootFolder`);
    const hanging = (headers: Record<string, string>, length: number, head: Buffer): http.ClientRequest => {
      const req = http.request(url, {
        method: 'POST',
        headers: {
          authorization: auth(),
          'x-requestdigest': d,
          'content-length': String(length),
          ...headers,
        },
      });
      req.on('error', () => undefined);
      req.write(head);
      return req;
    };
    const lost = Buffer.alloc(4 * MIB, 9);
    const lostHash = new QuickXorHash().update(lost).digest();
    const mp = multipartBody(
      `<Items>${createDocXml(rootId, 'lost.bin', 'p', lost.length, lostHash)}</Items>`,
      [{ id: 'p', bytes: lost }],
    );
    const r1 = hanging({ 'content-type': mp.contentType }, mp.body.length, mp.body.subarray(0, 2 * MIB));
    const r2 = hanging(
      {
        'x-http-method-override': 'BITS_POST',
        'bits-packet-type': 'Fragment',
        'bits-session-id': session,
        'content-range': range(MIB, 3 * MIB),
      },
      2 * MIB,
      big.subarray(MIB, MIB + MIB / 2),
    );
    const tmpDir = path.join(libDir, 'tmp');
    const part = path.join(libDir, 'uploads', `${session.replace(/[{}]/g, '')}.part`);
    await until('both uploads to reach the disk', () => {
      const tmp = fs.existsSync(tmpDir) ? fs.readdirSync(tmpDir) : [];
      return tmp.some((f) => fs.statSync(path.join(tmpDir, f)).size > 0) && fs.statSync(part).size > MIB;
    });
    const exited = new Promise((r) => srv.child.once('exit', r));
    srv.child.kill('SIGKILL');
    await exited;
    r1.destroy();
    r2.destroy();
    expect(fs.readdirSync(tmpDir).length).toBeGreaterThan(0); // the crash left a temp file behind

    await start();
    expect(fs.readdirSync(tmpDir)).toEqual([]);
    expect(fs.statSync(part).size).toBe(MIB); // cut back to the last acknowledged byte
    const after = await snapshot();
    expect([...after.etags.entries()]).toEqual([...before.etags.entries()]);
    const inc = await get(`RootFolder?Filter=changes&SyncToken=${before.token}`);
    expect(inc.headers.get('x-syncstatus')).toBe('NoChanges');
    const blobs = fs.readdirSync(path.join(libDir, 'blobs'));
    expect(blobs).toHaveLength(5); // no orphan of lost.bin

    // The BITS session resumes where its last Ack left it, and commits.
    const d2 = await digest();
    const resumed = await post(big.subarray(MIB), {
      'x-requestdigest': d2,
      'x-http-method-override': 'BITS_POST',
      'bits-packet-type': 'Fragment',
      'bits-session-id': session,
      'content-range': range(MIB, 3 * MIB),
    });
    expect(resumed.headers.get('bits-received-content-range')).toBe(String(3 * MIB));
    const hash = new QuickXorHash().update(big).digest();
    const { body, contentType } = multipartBody(
      `<Items>${createDocXml(rootId, 'resumed.bin', session.replace(/[{}]/g, ''), big.length, hash)}</Items>`,
    );
    const commit = await post(body, { 'content-type': contentType, 'x-requestdigest': d2 });
    expect(await commit.text()).toContain('<WriteStatus>Success</WriteStatus>');
    const inc2 = readPage(await (await get(`RootFolder?Filter=changes&SyncToken=${before.token}`)).text());
    expect(inc2.entries.map((e) => e.name)).toEqual(['resumed.bin']);

    // --mark-restored: the same token now needs a resync.
    await srv.stop();
    await start(['--mark-restored', '--resync-action', 'Reupload']);
    const restored = await get(`RootFolder?Filter=changes&SyncToken=${before.token}`);
    expect(restored.headers.get('x-syncstatus')).toBe('ResyncNeeded');
    expect(restored.headers.get('x-resyncaction')).toBe('Reupload');
  });
});
