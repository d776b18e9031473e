// Reliability part 6, secrets and permissions, on real mounts of the reference server over Basic (a password in
// an environment variable, and a 0600 credentials file), NTLM and Bearer (a token file), and over HTTPS with a
// self-signed certificate: no credential reaches /proc/*/cmdline or /proc/*/environ of an spfs process (beyond
// where the user put it), a log, the database, the state folder or error output; a daemon's core dump is 0600; the
// cache and state folders are 0700 and their files 0600; other users (nobody) can neither see the mount without
// allow_other nor reach the control socket; TLS verification is only off with --insecure (or its -o/SPFS_ forms).
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cleanLine, describePart, newCounts, processUsage } from '../helpers/reliability-counts';
import { filesWithSecrets } from '../helpers/secret-scan';
import { makeSelfSignedCert } from '../helpers/self-signed-cert';
import {
  assertE2EPrerequisites,
  BIN,
  daemonPids,
  forceCleanup,
  isMounted,
  makeTempDir,
  processAlive,
  runSpfs,
  waitForExit,
  type RunResult,
} from '../helpers/spfs-processes';

const FILE = 'test/reliability/secrets-permissions.test.ts';
const PASSWORD = `Pw-${Math.random().toString(36).slice(2)}-secret`;
const WRONG_PASSWORD = `Wrong-${Math.random().toString(36).slice(2)}`;
const TOKEN = `tok-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
const USER = 'alice';
/** Every form a credential could leak in: the password, the Basic header value, the token, a wrong password. */
const SECRETS = [PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), TOKEN, WRONG_PASSWORD];

const counts = newCounts('secrets-permissions');
const details: string[] = [];
const problem = (what: string): void => {
  counts.errnoSurprises++;
  details.push(what);
};

let work: string; // everything spfs writes: scanned for secrets
let secrets: string; // where the user keeps them: the server's config, a credentials file, a token file
let http: Served;
let https: Served;
let corePatternBefore: string | undefined;
const mountpoints: string[] = [];

interface Served {
  origin: string;
  stop(): Promise<void>;
}

async function serve(name: string, extra: string[]): Promise<Served> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'serve',
      '--data',
      join(work, `server-${name}`),
      '--config',
      join(secrets, 'serve.json'),
      '--port',
      '0',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const url = await new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout }).once('line', (l) => res(l.trim()));
    child.once('exit', (c) => rej(new Error(`spfs serve exited ${c}`)));
  });
  return {
    origin: new URL(url).origin,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const stateEnv = (): NodeJS.ProcessEnv => ({ SPFS_STATE_DIR: join(work, 'state') });

/**
 * `spfs mount` with `args` at `mnt-<name>`, in `work` (never the repository as the daemon's working folder). Mounts
 * of one server one after the other share a cache (`cache-<origin's name>`): a remount serves at once, where a
 * first mount waits for its first pass.
 */
function mountIn(
  name: string,
  url: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  cacheName = url.startsWith('https:') ? 'https' : 'http',
): Promise<RunResult & { mnt: string; cache: string }> {
  const mnt = join(work, `mnt-${name}`);
  const cache = join(work, `cache-${cacheName}`);
  mkdirSync(mnt, { recursive: true });
  mountpoints.push(mnt);
  return new Promise((res) => {
    execFile(
      process.execPath,
      [BIN, 'mount', url, mnt, '--cache-dir', cache, '--write-back', '0', ...args],
      { env: { ...process.env, ...stateEnv(), ...env }, cwd: work, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        res({ code, stdout, stderr, mnt, cache });
      },
    );
  });
}

/** Every secret form found in `text`, by position in SECRETS (never the secret itself in a message). */
function secretsIn(text: string | Buffer): number[] {
  const body = typeof text === 'string' ? Buffer.from(text) : text;
  return SECRETS.flatMap((s, i) => (body.includes(Buffer.from(s)) ? [i] : []));
}

/** Processes running bin/spfs (servers, daemons, commands): their argv and environment must hold no secret. */
function checkProcesses(when: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let argv: Buffer;
    let environ: Buffer;
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`);
      if (!argv.includes(Buffer.from(BIN))) continue;
      environ = readFileSync(`/proc/${entry}/environ`);
    } catch {
      continue; // ended meanwhile
    }
    counts.operations++;
    const what = argv.toString().split('\0').slice(2, 4).join(' ');
    for (const i of secretsIn(argv)) problem(`${when}: secret #${i} in /proc/${entry}/cmdline (${what})`);
    for (const i of secretsIn(environ)) problem(`${when}: secret #${i} in /proc/${entry}/environ (${what})`);
  }
}

function checkOutput(when: string, r: RunResult): void {
  counts.operations++;
  for (const i of secretsIn(r.stdout + r.stderr)) problem(`${when}: secret #${i} in the command's output`);
}

/** Folders 0700 and files 0600 (no group or other bits) under each root, the roots included. */
function checkModes(roots: string[], when: string): void {
  const visit = (p: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    counts.operations++;
    if ((st.mode & 0o077) !== 0) problem(`${when}: ${p} is mode ${(st.mode & 0o7777).toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  for (const r of roots) visit(r);
}

/** Runs a command as user nobody (no groups); exit code and output. */
function asNobody(cmd: string[]): { code: number; out: string } {
  try {
    const out = execFileSync(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', ...cmd],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 },
    );
    return { code: 0, out };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function unmount(mnt: string): Promise<void> {
  const r = await runSpfs(['unmount', mnt], stateEnv());
  checkOutput(`unmount ${mnt}`, r);
  expect(r.code).toBe(0);
}

async function useMount(mnt: string, name: string): Promise<void> {
  const body = Buffer.from(`written through ${name}\n`);
  await writeFile(join(mnt, `${name}.txt`), body);
  expect(await readFile(join(mnt, `${name}.txt`))).toEqual(body);
  counts.operations += 2;
  const f = await runSpfs(['flush', mnt], stateEnv());
  checkOutput(`flush ${name}`, f);
  expect(f.code).toBe(0);
  const s = await runSpfs(['status', mnt], stateEnv());
  checkOutput(`status ${name}`, s);
}

describe('reliability: secrets and permissions', () => {
  beforeAll(async () => {
    assertE2EPrerequisites();
    work = makeTempDir('rel-secrets');
    secrets = makeTempDir('rel-secrets-keys');
    // nobody must reach the mountpoints to be refused by the mount itself, not by this folder.
    chmodSync(work, 0o711);
    writeFileSync(
      join(secrets, 'serve.json'),
      JSON.stringify({ users: [{ name: USER, password: PASSWORD, tokens: [TOKEN] }] }),
      { mode: 0o600 },
    );
    writeFileSync(join(secrets, 'alice.cred'), `user=${USER}\npassword=${PASSWORD}\n`, { mode: 0o600 });
    writeFileSync(join(secrets, 'alice.token'), `${TOKEN}\n`, { mode: 0o600 });
    makeSelfSignedCert(secrets);
    http = await serve('http', []);
    https = await serve('https', [
      '--tls-cert',
      join(secrets, 'cert.pem'),
      '--tls-key',
      join(secrets, 'key.pem'),
    ]);
  }, 60_000);

  afterAll(async () => {
    console.log(describePart(counts));
    if (corePatternBefore !== undefined) writeFileSync('/proc/sys/kernel/core_pattern', corePatternBefore);
    await forceCleanup(mountpoints, [], []);
    await http?.stop();
    await https?.stop();
    if (secrets) rmSync(secrets, { recursive: true, force: true });
    // The suite-wide scan too: nothing under the folders spfs wrote (servers included) holds a secret.
    const leaks = work ? filesWithSecrets([work], SECRETS) : [];
    await forceCleanup([], work ? [work] : [], []);
    if (leaks.length > 0) throw new Error(`a credential was written to a file:\n${leaks.join('\n')}`);
  }, 120_000);

  it.each([
    ['basic-env', ['--user', USER, '--password-env', 'MY_PW'], { MY_PW: PASSWORD }],
    ['basic-file', ['--credentials-file', 'alice.cred'], {}],
    ['ntlm', ['--auth', 'ntlm', '--user', USER, '--password-env', 'MY_PW'], { MY_PW: PASSWORD }],
    ['bearer', ['--token-file', 'alice.token'], {}],
  ] as const)(
    '%s: mounts and works; no credential in /proc, logs, database, state or output',
    async (name, args, env) => {
      const withPaths = args.map((a) => (a.startsWith('alice.') ? join(secrets, a) : a));
      const r = await mountIn(
        name,
        `${http.origin}/personal/${USER}`,
        [...withPaths, '--log-level', 'debug'],
        env,
      );
      checkOutput(`mount ${name}`, r);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      checkProcesses(`${name} mounted`);
      await useMount(r.mnt, name);
      checkProcesses(`${name} after use`);
      checkModes([r.cache, join(work, 'state')], `${name} mounted`);
      const leaks = filesWithSecrets([r.cache, join(work, 'state')], SECRETS);
      counts.operations++;
      for (const l of leaks) problem(`${name}: ${l.replace(/: .*$/, '')} holds a secret`);
      await unmount(r.mnt);
      checkModes([r.cache], `${name} unmounted`);
    },
    60_000,
  );

  it('a wrong password or an unreadable credentials file is refused without echoing any secret', async () => {
    const wrong = await mountIn(
      'wrong',
      `${http.origin}/personal/${USER}`,
      ['--user', USER, '--password-env', 'PW'],
      {
        PW: WRONG_PASSWORD,
      },
    );
    checkOutput('mount with a wrong password', wrong);
    expect(wrong.code).toBe(4);
    expect(isMounted(wrong.mnt)).toBe(false);
    chmodSync(join(secrets, 'alice.cred'), 0o644);
    const open = await mountIn('open-cred', `${http.origin}/personal/${USER}`, [
      '--credentials-file',
      join(secrets, 'alice.cred'),
    ]);
    chmodSync(join(secrets, 'alice.cred'), 0o600);
    checkOutput('mount with a world-readable credentials file', open);
    expect(open.code).not.toBe(0);
    expect(open.stderr).toMatch(/chmod 600/);
  }, 60_000);

  it("a daemon's core dump (SIGABRT) is mode 0600: the password it holds in memory stays its user's", async () => {
    const cores = join(work, 'cores');
    mkdirSync(cores, { mode: 0o700 });
    const r = await mountIn(
      'core',
      `${http.origin}/personal/${USER}`,
      ['--user', USER, '--password-env', 'PW'],
      {
        PW: PASSWORD,
      },
    );
    expect(r.code).toBe(0);
    await useMount(r.mnt, 'core');
    const [pid] = daemonPids(r.cache);
    expect(pid).toBeDefined();
    counts.maxRssBytes = Math.max(counts.maxRssBytes, processUsage(pid!).hwmBytes);
    corePatternBefore = readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
    writeFileSync('/proc/sys/kernel/core_pattern', join(cores, 'core.%p'));
    try {
      execFileSync('prlimit', [`--pid=${pid}`, '--core=unlimited']);
      process.kill(pid!, 'SIGABRT');
      await waitForExit([pid!], 60_000);
      expect(processAlive(pid!)).toBe(false);
      counts.crashes++;
    } finally {
      writeFileSync('/proc/sys/kernel/core_pattern', corePatternBefore);
      corePatternBefore = undefined;
    }
    const core = join(cores, `core.${pid}`);
    expect(existsSync(core)).toBe(true);
    const st = statSync(core);
    counts.operations++;
    if ((st.mode & 0o077) !== 0) problem(`core file mode ${(st.mode & 0o777).toString(8)}`);
    expect(st.uid).toBe(process.getuid!());
    // The daemon needs the password for every new connection (Basic, NTLM), so it is in its memory: say so.
    const inCore = (needle: string): boolean => {
      try {
        execFileSync('grep', ['-q', '-a', '-F', '--', needle, core]);
        return true;
      } catch {
        return false;
      }
    };
    counts.extra = `core ${Math.round(st.size / 2 ** 20)} MiB mode ${(st.mode & 0o777).toString(8)}, password ${
      inCore(PASSWORD) ? 'in' : 'not in'
    } it`;
    rmSync(core, { force: true });
    execFileSync('fusermount', ['-u', '-z', r.mnt]);
    // Nothing written is lost to the crash: a remount on the same cache serves the file.
    const again = await mountIn(
      'core',
      `${http.origin}/personal/${USER}`,
      ['--user', USER, '--password-env', 'PW'],
      {
        PW: PASSWORD,
      },
    );
    expect(again.code).toBe(0);
    expect((await readFile(join(again.mnt, 'core.txt'))).toString()).toBe('written through core\n');
    await unmount(again.mnt);
  }, 120_000);

  it('other users: no access to a mount without allow_other, access with it; the control socket refuses them', async () => {
    const priv = await mountIn('private', `${http.origin}/personal/${USER}`, [
      '--token-file',
      join(secrets, 'alice.token'),
    ]);
    expect(priv.code).toBe(0);
    const shared = await mountIn(
      'shared',
      `${http.origin}/personal/${USER}`,
      ['--token-file', join(secrets, 'alice.token'), '-o', 'allow_other'],
      {},
      'shared',
    );
    expect(shared.code).toBe(0);
    counts.operations += 4;
    const denied = asNobody(['stat', '-c', '%F', priv.mnt]);
    if (denied.code === 0 || !/Permission denied/.test(denied.out))
      problem(`nobody stat without allow_other: ${denied.out}`);
    const lsDenied = asNobody(['ls', priv.mnt]);
    if (lsDenied.code === 0) problem(`nobody ls without allow_other listed: ${lsDenied.out}`);
    const allowed = asNobody(['stat', '-c', '%F', shared.mnt]);
    if (allowed.code !== 0 || allowed.out.trim() !== 'directory')
      problem(`nobody stat with allow_other: ${allowed.out}`);
    const read = asNobody(['cat', join(shared.mnt, 'bearer.txt')]);
    if (read.out !== 'written through bearer\n') problem(`nobody read with allow_other: ${read.out}`);

    // The control socket: 0600 in a 0700 folder, and refused even when the folder lets nobody through.
    const sock = join(priv.cache, 'control.sock');
    counts.operations += 4;
    if ((statSync(sock).mode & 0o077) !== 0)
      problem(`control socket mode ${(statSync(sock).mode & 0o777).toString(8)}`);
    if ((statSync(priv.cache).mode & 0o077) !== 0) problem('cache folder open to others');
    const connect = [
      process.execPath,
      '-e',
      `require('net').connect(${JSON.stringify(sock)}).on('connect',()=>{console.log('connected');process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(3)})`,
    ];
    const viaDir = asNobody(connect);
    if (viaDir.out.trim() !== 'EACCES') problem(`nobody connecting to the control socket: ${viaDir.out}`);
    chmodSync(priv.cache, 0o711);
    try {
      const viaMode = asNobody(connect);
      if (viaMode.out.trim() !== 'EACCES')
        problem(`nobody connecting through an open folder: ${viaMode.out}`);
    } finally {
      chmodSync(priv.cache, 0o700);
    }
    const status = asNobody([
      'env',
      `SPFS_STATE_DIR=${join(work, 'state')}`,
      process.execPath,
      BIN,
      'status',
      priv.mnt,
    ]);
    if (status.code === 0 && /pending uploads/.test(status.out))
      problem(`nobody got spfs status: ${status.out}`);
    await unmount(priv.mnt);
    await unmount(shared.mnt);
  }, 60_000);

  it('TLS: a self-signed server is refused naming the certificate, unless --ca trusts it or --insecure says so', async () => {
    const url = `${https.origin}/personal/${USER}`;
    const token = ['--token-file', join(secrets, 'alice.token')];
    const refusedAttempts: Array<[string, NodeJS.ProcessEnv]> = [
      ['no-ca', {}],
      // Node's own switch must not turn verification off behind the user's back.
      ['node-env', { NODE_TLS_REJECT_UNAUTHORIZED: '0' }],
    ];
    for (const [name, env] of refusedAttempts) {
      const r = await mountIn(`tls-${name}`, url, token, env);
      counts.operations++;
      checkOutput(`tls ${name}`, r);
      if (r.code === 0 || isMounted(r.mnt) || !/certificate/i.test(r.stderr))
        problem(`tls ${name}: exit ${r.code}, mounted ${isMounted(r.mnt)}: ${r.stderr}`);
      if (isMounted(r.mnt)) await unmount(r.mnt);
    }
    const withCa = await mountIn('tls-ca', url, [...token, '--ca', join(secrets, 'cert.pem')]);
    expect(withCa.code).toBe(0);
    expect(withCa.stderr).toBe('');
    await useMount(withCa.mnt, 'tls-ca');
    await unmount(withCa.mnt);
    for (const [name, args, env] of [
      ['tls-insecure', ['--insecure'], {}],
      ['tls-insecure-env', [], { SPFS_INSECURE: '1' }],
    ] as const) {
      const r = await mountIn(name, url, [...token, ...args], env);
      counts.operations++;
      expect(r.code).toBe(0);
      if (!/NOT verified/.test(r.stderr)) problem(`${name}: no warning: ${r.stderr}`);
      await unmount(r.mnt);
    }
  }, 90_000);

  it('prints the counts line: no secret anywhere, no mode or access surprise', () => {
    checkProcesses('at the end');
    checkModes(
      [
        join(work, 'state'),
        ...readdirSync(work)
          .filter((n) => n.startsWith('cache-'))
          .map((n) => join(work, n)),
      ],
      'at the end',
    );
    const line = describePart(counts);
    expect(line + (details.length > 0 ? `\n${details.join('\n')}\n${`replay: npx jest ${FILE}`}` : '')).toBe(
      cleanLine(counts),
    );
  });
});
