// The contenders: local disk, bindfs (default and tuned), rclone mount over rclone serve webdav, and spfs over
// spfs serve. Each exposes the same small lifecycle so every workload can run against every one of them.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { isMounted, pidsWithArgs, run, sleep, waitListable, type Registry } from './sys';

export const ROOT = resolve(__dirname, '..', '..');
/** The spfs checkout under test: this one, or SPFS_ROOT (e.g. a clean `git worktree` of a commit). */
export const SPFS_ROOT = resolve(process.env.SPFS_ROOT ?? ROOT);
const SPFS_BIN = join(SPFS_ROOT, 'bin', 'spfs');
const MOUNT_TIMEOUT_MS = 600_000;
const PASSWORD_ENV = 'SPFS_BENCH_PASSWORD';

/** `spfs` runs on its default adapter (libfuse3 where it is built), `spfs-fuse2` on the fuse-native fallback. */
export type ContenderId = 'local' | 'bindfs' | 'bindfs-tuned' | 'rclone' | 'spfs' | 'spfs-fuse2';
export const CONTENDER_IDS: readonly ContenderId[] = [
  'local',
  'bindfs',
  'bindfs-tuned',
  'rclone',
  'spfs',
  'spfs-fuse2',
];

/** What another user does to a file on the server side. */
export type RemoteOp = 'create' | 'edit' | 'delete';

/** name → size of the files directly in a folder as the server holds them; undefined when the folder is absent. */
export type Listing = Map<string, number> | undefined;

export interface Contender {
  readonly id: ContenderId;
  /** Where the data set appears (the mountpoint, or the folder itself for local disk). */
  readonly root: string;
  /** Is there a server behind the mount (so "until on the server" and remote changes mean something)? */
  readonly remote: boolean;
  /** Starts the server side, if any (seeding it from the source folder). */
  start(): Promise<void>;
  /** Mounts; `fresh` starts from an empty cache. Resolves once the root lists. */
  mount(fresh: boolean): Promise<void>;
  unmount(): Promise<void>;
  stop(): Promise<void>;
  daemonPid(): number | undefined;
  /** The server process behind the mount, if the harness runs one (its CPU counts with the daemon's). */
  serverPid(): number | undefined;
  /** The server's view of a folder (relative to the library root), for "until on the server". */
  serverListing(relDir: string): Promise<Listing>;
  /** Applies a change on the server side as another user would; undefined until the contender can. */
  remoteChange: ((op: RemoteOp, relPath: string, content?: string) => Promise<void>) | undefined;
}

function localListing(dir: string): Listing {
  try {
    return new Map(readdirSync(dir).map((n) => [n, statSync(join(dir, n)).size]));
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

async function fusermountU(mnt: string): Promise<void> {
  for (let i = 0; i < 50 && isMounted(mnt); i++) {
    try {
      await run('fusermount', ['-u', mnt]);
    } catch {
      await sleep(100); // busy: a reader is still closing
    }
  }
  if (isMounted(mnt)) await run('fusermount', ['-u', '-z', mnt]);
}

export function localContender(src: string): Contender {
  return {
    id: 'local',
    root: src,
    remote: false,
    start: async () => {},
    mount: async () => {},
    unmount: async () => {},
    stop: async () => {},
    daemonPid: () => undefined,
    serverPid: () => undefined,
    serverListing: (rel) => Promise.resolve(localListing(join(src, rel))),
    remoteChange: undefined,
  };
}

export function bindfsContender(src: string, work: string, reg: Registry, tuned: boolean): Contender {
  const mnt = join(work, tuned ? 'mnt-bindfs-tuned' : 'mnt-bindfs');
  const opts = tuned
    ? ['--xattr-none', '-o', 'big_writes,kernel_cache,entry_timeout=60,attr_timeout=60']
    : [];
  let child: ReturnType<typeof spawn> | undefined;
  return {
    id: tuned ? 'bindfs-tuned' : 'bindfs',
    root: mnt,
    remote: false,
    start: () => Promise.resolve(void mkdirSync(mnt, { recursive: true })),
    mount: async () => {
      child = spawn('bindfs', ['-f', ...opts, src, mnt], { stdio: 'ignore' });
      reg.addChild(child);
      reg.addMount(mnt);
      await waitListable(mnt, MOUNT_TIMEOUT_MS, child);
    },
    unmount: async () => {
      await fusermountU(mnt);
      if (child && child.exitCode === null) await new Promise((r) => child!.once('exit', r));
      child = undefined;
    },
    stop: async () => {},
    daemonPid: () => child?.pid,
    serverPid: () => undefined,
    serverListing: (rel) => Promise.resolve(localListing(join(src, rel))),
    remoteChange: undefined,
  };
}

export function rcloneContender(src: string, work: string, reg: Registry): Contender {
  const mnt = join(work, 'mnt-rclone');
  let url = '';
  let cacheN = 0;
  let cacheDir = join(work, 'rclone-cache-0');
  let child: ReturnType<typeof spawn> | undefined;
  let serverPid: number | undefined;
  return {
    id: 'rclone',
    root: mnt,
    remote: true,
    start: async () => {
      mkdirSync(mnt, { recursive: true });
      const port = await freePort();
      const server = spawn('rclone', ['serve', 'webdav', src, '--addr', `127.0.0.1:${port}`], {
        stdio: 'ignore',
      });
      reg.addChild(server);
      serverPid = server.pid;
      url = `http://127.0.0.1:${port}/`;
      for (let i = 0; ; i++) {
        try {
          await fetch(url, { method: 'HEAD' });
          break;
        } catch {
          if (i > 200 || server.exitCode !== null) throw new Error('rclone serve webdav did not start');
          await sleep(50);
        }
      }
    },
    mount: async (fresh) => {
      if (fresh) {
        rmSync(cacheDir, { recursive: true, force: true });
        cacheDir = join(work, `rclone-cache-${++cacheN}`);
      }
      const args = [
        'mount',
        ':webdav:',
        mnt,
        '--webdav-url',
        url,
        '--vfs-cache-mode',
        'full',
        '--cache-dir',
        cacheDir,
      ];
      child = spawn('rclone', args, { stdio: 'ignore' });
      reg.addChild(child);
      reg.addMount(mnt);
      await waitListable(mnt, MOUNT_TIMEOUT_MS, child);
    },
    unmount: async () => {
      await fusermountU(mnt);
      if (child && child.exitCode === null) await new Promise((r) => child!.once('exit', r));
      child = undefined;
    },
    stop: () => Promise.resolve(rmSync(cacheDir, { recursive: true, force: true })),
    daemonPid: () => child?.pid,
    serverPid: () => serverPid,
    serverListing: (rel) => Promise.resolve(localListing(join(src, rel))),
    remoteChange: (op, rel, content) =>
      Promise.resolve(
        op === 'delete' ? rmSync(join(src, rel)) : writeFileSync(join(src, rel), content ?? ''),
      ),
  };
}

/** The slice of the project's protocol client (dist/protocol/sp-client.js) used to read the server's view. */
interface ItemLike {
  kind: string;
  id: string;
  name: string;
  size: number;
}
interface ClientLike {
  rootFolder(): Promise<{ item: ItemLike }>;
  children(
    id: string,
    q: { foldersOnly: boolean; offset: number; count: number },
  ): Promise<{ items: ItemLike[]; hasMore: boolean }>;
  close(): Promise<void>;
}

async function childrenOf(c: ClientLike, id: string): Promise<ItemLike[]> {
  const out: ItemLike[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await c.children(id, { foldersOnly: false, offset, count: 1000 });
    out.push(...page.items);
    if (!page.hasMore) return out;
  }
}

export function spfsContender(
  src: string,
  work: string,
  reg: Registry,
  tag: string,
  id: 'spfs' | 'spfs-fuse2' = 'spfs',
): Contender {
  const fuse = id === 'spfs' ? 'auto' : '2';
  tag = `${id}-${tag}`;
  const mnt = join(work, `mnt-${tag}`);
  const state = join(work, `${id}-state`);
  const password = `bench-${process.pid}`;
  const adminToken = `bench-admin-${process.pid}-${Date.now()}`;
  const env = { [PASSWORD_ENV]: password, SPFS_STATE_DIR: state, SPFS_BENCH_ADMIN_TOKEN: adminToken };
  let url = '';
  let cacheN = 0;
  let cacheDir = join(work, `spfs-cache-${tag}-0`);
  let client: ClientLike | undefined;
  let serverPid: number | undefined;
  return {
    id,
    root: mnt,
    remote: true,
    start: async () => {
      mkdirSync(mnt, { recursive: true });
      const data = join(work, `spfs-server-${tag}`);
      rmSync(data, { recursive: true, force: true });
      const args = [SPFS_BIN, 'serve', '--data', data, '--seed', src, '--port', '0', '--user', 'bench'];
      const admin = ['--admin', '--admin-token-env', 'SPFS_BENCH_ADMIN_TOKEN'];
      const server = spawn(process.execPath, [...args, '--password-env', PASSWORD_ENV, ...admin], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      reg.addChild(server);
      serverPid = server.pid;
      url = await new Promise<string>((res, rej) => {
        createInterface({ input: server.stdout }).once('line', (l) => res(l.trim()));
        server.once('exit', (code) => rej(new Error(`spfs serve exited (${code}) before printing its URL`)));
      });
    },
    mount: async (fresh) => {
      if (fresh) {
        rmSync(cacheDir, { recursive: true, force: true });
        cacheDir = join(work, `spfs-cache-${tag}-${++cacheN}`);
      }
      reg.addMount(mnt);
      const args = [
        'mount',
        url,
        mnt,
        '--user',
        'bench',
        '--password-env',
        PASSWORD_ENV,
        '--cache-dir',
        cacheDir,
        '--fuse',
        fuse,
      ];
      await run(process.execPath, [SPFS_BIN, ...args], { env, timeoutMs: MOUNT_TIMEOUT_MS });
      for (const pid of pidsWithArgs(['--foreground', cacheDir])) reg.addPid(pid);
      await waitListable(mnt, MOUNT_TIMEOUT_MS);
    },
    unmount: async () => {
      if (isMounted(mnt)) await run(process.execPath, [SPFS_BIN, 'unmount', mnt], { env });
    },
    stop: async () => {
      await client?.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
    daemonPid: () => pidsWithArgs(['--foreground', cacheDir])[0],
    serverPid: () => serverPid,
    serverListing: async (rel) => {
      if (client === undefined) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- the checkout under test is chosen at run time
        const mod = require(join(SPFS_ROOT, 'dist', 'protocol', 'sp-client.js')) as {
          SpClient: {
            connect(o: { url: string; credentials: { user: string; password: string } }): Promise<ClientLike>;
          };
        };
        client = await mod.SpClient.connect({ url, credentials: { user: 'bench', password } });
      }
      let items = await childrenOf(client, (await client.rootFolder()).item.id);
      for (const part of rel.split('/').filter((p) => p.length > 0)) {
        const folder = items.find((i) => i.name === part && i.kind === 'folder');
        if (folder === undefined) return undefined;
        items = await childrenOf(client, folder.id);
      }
      return new Map(items.filter((i) => i.kind !== 'folder').map((i) => [i.name, i.size]));
    },
    // Another user creates, rewrites or deletes the file through the server's admin endpoint; the mount learns of
    // it through its notification channel and the change feed.
    remoteChange: async (op, rel, content) => {
      const adminOp = op === 'create' ? 'create-file' : op === 'edit' ? 'edit-file' : 'delete';
      const res = await fetch(`${new URL(url).origin}/_spfs/admin/changes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'bench-other', op: adminOp, path: rel, content }),
      });
      if (!res.ok) throw new Error(`admin change failed: ${res.status} ${await res.text()}`);
    },
  };
}
