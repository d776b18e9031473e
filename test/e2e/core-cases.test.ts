// The core cases (test/helpers/core-cases.ts) through a real FUSE mount on each adapter (libfuse3, the default, and
// fuse-native, the fallback): `spfs serve` and `spfs mount` as child processes, the cases doing plain file I/O on the
// mountpoint. test/vfs/core-cases.test.ts runs the same cases in process.
import { constants, promises as fsp } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_ARGS, ADMIN_ENV, ADMIN_TOKEN, adminPost } from '../helpers/admin-endpoint';
import { CORE_CASES, serverView, type CoreDriver } from '../helpers/core-cases';
import { eventually } from '../helpers/eventually';
import { getfattrDump, getfattrValue, removefattr, setfattr } from '../helpers/xattr-tools';
import {
  assertE2EPrerequisites,
  forceCleanup,
  makeTempDir,
  mountUnder,
  runSpfs,
  startServerProcess,
  type MountProcess,
  type ServerProcess,
} from '../helpers/spfs-processes';

jest.setTimeout(120_000);

const ADAPTERS: ReadonlyArray<[string, string]> = [
  ['libfuse3', '3'],
  ['fuse-native', '2'],
];

describe.each(ADAPTERS)('core cases through a real mount on %s (FUSE, child processes)', (_adapter, fuse) => {
  let base: string;
  let server: ServerProcess;
  let mount: MountProcess;
  let driver: CoreDriver;
  const mountpoints: string[] = [];

  beforeAll(async () => {
    assertE2EPrerequisites();
    base = makeTempDir('core');
    mkdirSync(join(base, 'data'));
    process.env[ADMIN_ENV] = ADMIN_TOKEN;
    server = await startServerProcess({ dataDir: join(base, 'data'), extraArgs: [...ADMIN_ARGS] });
    mount = await mountUnder(server, base, 'a', ['--write-back', '0', '--fuse', fuse], mountpoints);
    const port = new URL(server.url).port;
    const at = (rel: string): string => join(mount.mountpoint, rel);
    driver = {
      writeFile: (rel, data) => fsp.writeFile(at(rel), data),
      readFile: (rel) => fsp.readFile(at(rel)),
      async openWrite(rel, truncate) {
        const h = await fsp.open(at(rel), constants.O_WRONLY | (truncate ? constants.O_TRUNC : 0));
        return {
          write: async (data, position) => void (await h.write(data, 0, data.length, position)),
          close: () => h.close(),
        };
      },
      async openRead(rel) {
        const h = await fsp.open(at(rel), constants.O_RDONLY);
        return {
          fstatSize: async () => (await h.stat()).size,
          read: async (length, position) => {
            const buf = Buffer.alloc(length);
            const { bytesRead } = await h.read(buf, 0, length, position);
            return buf.subarray(0, bytesRead);
          },
          close: () => h.close(),
        };
      },
      rename: (a, b) => fsp.rename(at(a), at(b)),
      unlink: (rel) => fsp.unlink(at(rel)),
      mkdir: (rel) => fsp.mkdir(at(rel)),
      rmdir: (rel) => fsp.rmdir(at(rel)),
      readdir: (rel) => fsp.readdir(at(rel)),
      async stat(rel) {
        const s = await fsp.stat(at(rel));
        return { size: s.size, mtimeMs: s.mtimeMs, folder: s.isDirectory(), nlink: s.nlink };
      },
      async errnoOf(op) {
        try {
          await op();
          return 'none';
        } catch (err) {
          return (err as NodeJS.ErrnoException).code ?? String(err);
        }
      },
      async flush() {
        const r = await runSpfs(['flush', mount.mountpoint], { SPFS_STATE_DIR: join(base, 'state') });
        if (r.code !== 0) throw new Error(`spfs flush exited ${r.code}: ${r.stderr}`);
      },
      async seeRemote(check, what) {
        await eventually(async () => ((await check()) ? true : undefined), what, 30_000);
      },
      remote: async (change) =>
        void (await adminPost(port, ADMIN_TOKEN, '/changes', { user: server.user, ...change })),
      pause: (ms) => new Promise((r) => setTimeout(r, ms)),
      xattrs: (rel) => getfattrDump(at(rel)),
      getxattr: (rel, name) => getfattrValue(at(rel), name),
      setxattr: (rel, name, value) => setfattr(at(rel), name, value),
      removexattr: (rel, name) => removefattr(at(rel), name),
    };
  });
  afterAll(async () => {
    delete process.env[ADMIN_ENV];
    await forceCleanup(mountpoints, [base], [server]);
  });

  CORE_CASES.forEach((c, i) => {
    it(c.name, async () => {
      const dir = `case${i}`;
      await driver.mkdir(dir);
      await c.run(
        driver,
        () => serverView({ url: server.url, user: server.user, password: server.password }),
        dir,
      );
    });
  });
});
