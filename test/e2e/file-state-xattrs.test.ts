// End to end on each adapter: `getfattr` shows a file's state move through online-only → partial → hydrated →
// modified → uploading → hydrated as it is read in part, read whole, edited and uploaded (the upload held up by the
// server's latency fault, so `uploading` can be seen), without ever downloading a file by itself, and still answers
// while the server is down. `spfs serve` and `spfs mount` run as child processes; getfattr/setfattr are the real tools.
import { randomBytes } from 'node:crypto';
import { promises as fsp, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN, adminPost } from '../helpers/admin-endpoint';
import { eventually } from '../helpers/eventually';
import {
  assertE2EPrerequisites,
  forceCleanup,
  makeTempDir,
  mountUnder,
  readRequestLog,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';
import { getfattrDump, getfattrValue } from '../helpers/xattr-tools';

jest.setTimeout(180_000);

const ADAPTERS: ReadonlyArray<[string, string]> = [
  ['libfuse3', '3'],
  ['fuse-native', '2'],
];

const BIG_BYTES = 16 * 1024 * 1024;
/** The upload's write requests (E8 batches and BITS packets on RootFolder or Items/{R}) wait this long. */
const UPLOAD_DELAY_MS = 5000;

describe.each(ADAPTERS)(
  'file states as extended attributes on %s (real mount, real server)',
  (_name, fuse) => {
    let base: string;
    let server: ServerProcess;
    let mount: MountProcess;
    const mountpoints: string[] = [];
    const at = (rel: string): string => join(mount.mountpoint, rel);
    const state = async (rel: string): Promise<string> => getfattrValue(at(rel), 'user.spfs.state');
    /** The UniqueId of every download the server has logged. */
    const downloaded = (): string[] =>
      readRequestLog(server)
        .filter((r) => r.path.toLowerCase().includes('/_layouts/15/download.aspx'))
        .map((r) => (r.query ?? '').toLowerCase().replace(/%2d|-|%7b|%7d|\{|\}/g, ''));

    beforeAll(async () => {
      assertE2EPrerequisites();
      base = makeTempDir('xattrs');
      const seed = join(base, 'seed');
      mkdirSync(join(seed, 'Docs'), { recursive: true });
      writeFileSync(join(seed, 'Docs', 'big.bin'), randomBytes(BIG_BYTES));
      writeFileSync(join(seed, 'Docs', 'small.txt'), 'small');
      mkdirSync(join(base, 'data'));
      process.env[ADMIN_ENV] = ADMIN_TOKEN;
      server = await startServerProcess({
        dataDir: join(base, 'data'),
        seedDir: seed,
        extraArgs: [...ADMIN_ARGS],
      });
      mount = await mountUnder(server, base, 'm', ['--write-back', '0', '--fuse', fuse], mountpoints);
    });

    afterAll(async () => {
      delete process.env[ADMIN_ENV];
      await forceCleanup(mountpoints, [base], [server]);
    });

    it('reading the attributes of never-opened files downloads nothing', async () => {
      const big = await getfattrDump(at('Docs/big.bin'));
      const small = await getfattrDump(at('Docs/small.txt'));
      expect(big['user.spfs.state']).toBe('online-only');
      expect(small['user.spfs.state']).toBe('online-only');
      expect(await getfattrDump(at('Docs'))).toMatchObject({ 'user.spfs.state': 'online-only' });
      // A download made afterwards shows up in the log (lines are written when a response ends): by then any
      // download the getfattr calls had caused would be there too.
      expect((await fsp.readFile(at('Docs/small.txt'))).toString()).toBe('small');
      const smallId = small['user.spfs.resource-id'] as string;
      await eventually(
        () => (downloaded().some((q) => q.includes(smallId)) ? true : undefined),
        'the download of small.txt in the request log',
        30_000,
        20,
      );
      const bigId = big['user.spfs.resource-id'] as string;
      expect(bigId).toMatch(/^[0-9a-f]{32}$/);
      expect(downloaded().filter((q) => q.includes(bigId))).toEqual([]);
      expect(await state('Docs/big.bin')).toBe('online-only');
      await eventually(
        async () => ((await state('Docs/small.txt')) === 'hydrated' ? true : undefined),
        'small.txt hydrated after one read',
        30_000,
      );
    });

    it('moves through online-only → partial → hydrated → modified → uploading → hydrated', async () => {
      const file = 'Docs/big.bin';
      const before = await getfattrDump(at(file));
      expect(before['user.spfs.state']).toBe('online-only');

      const h = await fsp.open(at(file), 'r');
      const head = Buffer.alloc(4096);
      expect((await h.read(head, 0, head.length, 0)).bytesRead).toBe(4096);
      await h.close();
      // The kernel releases the handle after close() returns; what arrived by then is recorded.
      await eventually(
        async () => ((await state(file)) === 'partial' ? true : undefined),
        'partial after reading a prefix',
        30_000,
      );

      expect((await fsp.readFile(at(file))).length).toBe(BIG_BYTES);
      await eventually(
        async () => ((await state(file)) === 'hydrated' ? true : undefined),
        'hydrated after reading it whole',
        30_000,
      );

      const w = await fsp.open(at(file), 'r+');
      await w.write(Buffer.from('edited here'), 0, 11, 0);
      await w.sync(); // the change is in the journal; nothing goes up while the file is open for writing
      expect(await state(file)).toBe('modified');
      expect(await getfattrValue(at(file), 'user.spfs.etag')).toBe(before['user.spfs.etag']);

      const port = new URL(server.url).port;
      await adminPost(port, ADMIN_TOKEN, '/faults', {
        kind: 'latency',
        delayMs: UPLOAD_DELAY_MS,
        method: 'POST',
        path: 'rootfolder|/items/',
        count: 1,
      });
      await w.close();
      await eventually(
        async () => ((await state(file)) === 'uploading' ? true : undefined),
        'uploading while the server holds the upload',
        30_000,
        20,
      );
      await eventually(
        async () => ((await state(file)) === 'hydrated' ? true : undefined),
        'hydrated once uploaded',
        60_000,
      );
      const after = await getfattrDump(at(file));
      expect(after['user.spfs.resource-id']).toBe(before['user.spfs.resource-id']);
      expect(after['user.spfs.etag']).not.toBe(before['user.spfs.etag']);
      expect(after['user.spfs.error']).toBeUndefined();
    });

    it('answers while the server is down, without waiting on the network', async () => {
      const file = await getfattrDump(at('Docs/big.bin'));
      const folder = await getfattrDump(at('Docs'));
      await server.stop();
      // getfattrDump gives up after 30 s: a hang fails the test.
      expect(await getfattrDump(at('Docs/big.bin'))).toEqual(file);
      expect(await getfattrDump(at('Docs'))).toEqual(folder);
      expect(await getfattrDump(at('Docs/small.txt'))).toMatchObject({ 'user.spfs.state': 'hydrated' });
    });
  },
);
