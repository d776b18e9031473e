// End to end: `spfs mount` signs in with each scheme a SharePoint farm may ask for — NTLM, Bearer, Basic from a
// credentials file — reaches a team site library, and verifies a company CA over HTTPS; child processes, real FUSE.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, promises as fsp, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { makeSelfSignedCert } from '../helpers/self-signed-cert';
import {
  assertE2EPrerequisites,
  BIN,
  forceCleanup,
  isMounted,
  makeTempDir,
  runSpfs,
  type RunResult,
} from '../helpers/spfs-processes';

const TOKEN = 'bearer-token-for-alice-0123456789abcdef';
const PASSWORD = 'ntlm-Passw0rd!';

describe('spfs mount with NTLM, Bearer, a credentials file, a team site and HTTPS (child processes)', () => {
  let work: string;
  let server: ChildProcess | undefined;
  let origin = '';
  const mounts: string[] = [];

  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('e2e-auth');
    const seed = join(work, 'seed');
    const teamSeed = join(work, 'team-seed');
    mkdirSync(seed);
    mkdirSync(teamSeed);
    writeFileSync(join(seed, 'alice.txt'), 'personal library of alice\n');
    writeFileSync(join(teamSeed, 'team.txt'), 'shared by the team\n');
    // A self-signed certificate stands in for a company CA: the client must trust it through --ca only.
    makeSelfSignedCert(work);
    const config = join(work, 'serve.json');
    writeFileSync(
      config,
      JSON.stringify({
        users: [
          { name: 'alice', password: PASSWORD, tokens: [TOKEN] },
          { name: 'bob', password: 'bob-password' },
        ],
        teamSites: [{ name: 'team', members: ['alice'], seedDir: teamSeed }],
      }),
    );
    chmodSync(config, 0o600);
    server = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '--data',
        join(work, 'server'),
        '--seed',
        seed,
        '--config',
        config,
        '--port',
        '0',
        '--tls-cert',
        join(work, 'cert.pem'),
        '--tls-key',
        join(work, 'key.pem'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const site = await new Promise<string>((resolve, reject) => {
      createInterface({ input: server!.stdout! }).once('line', (l) => resolve(l.trim()));
      server!.once('exit', (c) => reject(new Error(`spfs serve exited ${c}`)));
    });
    origin = new URL(site).origin;
  }, 60_000);

  afterAll(async () => {
    await forceCleanup(mounts, [], []);
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    await forceCleanup([], work ? [work] : [], []);
  });

  async function mountAndRead(
    url: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    file: string,
  ): Promise<[RunResult, string]> {
    const mnt = join(work, `mnt-${mounts.length}`);
    mkdirSync(mnt);
    mounts.push(mnt);
    const state = { SPFS_STATE_DIR: join(work, 'state') };
    const r = await runSpfs(
      [
        'mount',
        url,
        mnt,
        '--cache-dir',
        join(work, `cache-${mounts.length}`),
        '--ca',
        join(work, 'cert.pem'),
        ...args,
      ],
      { ...env, ...state },
    );
    if (r.code !== 0) return [r, ''];
    const text = await fsp.readFile(join(mnt, file), 'utf8');
    const u = await runSpfs(['unmount', mnt], state);
    expect(u.code).toBe(0);
    expect(isMounted(mnt)).toBe(false);
    return [r, text];
  }

  it('NTLM: discovers the personal library from the server URL and reads a file', async () => {
    const [r, text] = await mountAndRead(
      origin,
      ['--auth', 'ntlm', '--user', 'alice', '--password-env', 'PW'],
      { PW: PASSWORD },
      'alice.txt',
    );
    expect(r.stderr).toBe('');
    expect(text).toBe('personal library of alice\n');
  });

  it('Bearer: a token file', async () => {
    const tokenFile = join(work, 'token');
    writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
    const [r, text] = await mountAndRead(
      `${origin}/personal/alice`,
      ['--auth', 'bearer', '--token-file', tokenFile],
      {},
      'alice.txt',
    );
    expect(r.code).toBe(0);
    expect(text).toBe('personal library of alice\n');
  });

  it('Basic from a 0600 credentials file reaches a team site; a world-readable file is refused', async () => {
    const creds = join(work, 'creds');
    writeFileSync(creds, `user=alice\npassword=${PASSWORD}\n`, { mode: 0o600 });
    const [r, text] = await mountAndRead(
      `${origin}/sites/team`,
      ['--credentials-file', creds],
      {},
      'team.txt',
    );
    expect(r.code).toBe(0);
    expect(text).toBe('shared by the team\n');
    chmodSync(creds, 0o644);
    const [refused] = await mountAndRead(
      `${origin}/sites/team`,
      ['--credentials-file', creds],
      {},
      'team.txt',
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/600/);
    expect(refused.stderr).not.toContain(PASSWORD);
  });

  it('a user without access to the team site is refused with a clear message', async () => {
    const [r] = await mountAndRead(
      `${origin}/sites/team`,
      ['--user', 'bob', '--password-env', 'PW'],
      { PW: 'bob-password' },
      'team.txt',
    );
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/refused/);
  });

  it('HTTPS without the CA is refused (verification is on by default)', async () => {
    const mnt = join(work, 'mnt-noca');
    mkdirSync(mnt);
    mounts.push(mnt);
    const r = await runSpfs(
      [
        'mount',
        origin,
        mnt,
        '--user',
        'alice',
        '--password-env',
        'PW',
        '--cache-dir',
        join(work, 'cache-noca'),
      ],
      {
        PW: PASSWORD,
        SPFS_STATE_DIR: join(work, 'state'),
      },
    );
    expect(r.code).not.toBe(0);
    expect(isMounted(mnt)).toBe(false);
    expect(r.stderr).toMatch(/certificate|self.signed|SELF_SIGNED/i);
  });
});
