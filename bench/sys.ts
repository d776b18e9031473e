// Process and mount plumbing for the harness: timed commands, page-cache drops, mount polling, RSS, and a registry
// of everything started so that one cleanup (signal, error or normal end) can tear it all down.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Runs a command to completion with output discarded (or captured); rejects on a non-zero exit. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; capture?: boolean; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', opts.capture ? 'pipe' : 'ignore', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const timer =
      opts.timeoutMs !== undefined ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}: ${err.trim().slice(0, 400)}`));
    });
  });
}

/** Wall time of a command in ms. */
export async function timeCommand(cmd: string, args: readonly string[]): Promise<number> {
  const t0 = nowMs();
  await run(cmd, args);
  return nowMs() - t0;
}

export function versionOf(cmd: string, args: readonly string[]): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0]!.trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return (e.stdout || e.stderr || 'missing').split('\n')[0]!.trim();
  }
}

/** `sync; echo 3 > /proc/sys/vm/drop_caches`; false when the machine does not allow it (not root, container). */
export function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

export function isMounted(path: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === path);
}

/** Polls until the mountpoint is a mount and its root can be listed; returns the ms waited. */
export async function waitListable(path: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    if (isMounted(path)) {
      try {
        readdirSync(path);
        return;
      } catch {
        // not ready yet
      }
    }
    if (child && child.exitCode !== null)
      throw new Error(`process exited (${child.exitCode}) before ${path} mounted`);
    if (nowMs() > deadline) throw new Error(`${path} not mounted within ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Resident set size of a process in MiB (VmRSS), undefined when it is gone. */
export function rssMib(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a live process has used, in ms; undefined when it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    // Fields after the command name (which may hold spaces): state is 3rd, utime 14th, stime 15th, in clock ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every Linux architecture spfs runs on (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS = 100;

/** Pids whose command line contains every one of the given arguments (read from /proc, no shell). */
export function pidsWithArgs(args: readonly string[]): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.every((a) => argv.includes(a))) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

/** Everything the harness started, so cleanup can find it; also written to a file for bench/run.sh's trap. */
export class Registry {
  private readonly mounts = new Set<string>();
  private readonly children = new Set<ChildProcess>();
  private readonly pids = new Set<number>();
  constructor(private readonly file: string) {
    writeFileSync(file, '');
  }
  addMount(path: string): void {
    this.mounts.add(path);
    appendFileSync(this.file, `mount ${path}\n`);
  }
  addChild(child: ChildProcess): void {
    this.children.add(child);
    if (child.pid !== undefined) appendFileSync(this.file, `pid ${child.pid}\n`);
    child.once('exit', () => this.children.delete(child));
  }
  /** A detached daemon (not our child), e.g. the spfs mount daemon. */
  addPid(pid: number): void {
    this.pids.add(pid);
    appendFileSync(this.file, `pid ${pid}\n`);
  }
  /** Lazily detaches every mount still present, then SIGTERMs (later SIGKILLs) every child still running. */
  async cleanup(): Promise<void> {
    for (const m of this.mounts) {
      if (!isMounted(m)) continue;
      try {
        execFileSync('fusermount', ['-u', '-z', m], { stdio: 'ignore' });
      } catch {
        try {
          execFileSync('umount', ['-l', m], { stdio: 'ignore' });
        } catch {
          // nothing more to do
        }
      }
    }
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    for (const c of this.children) c.kill('SIGTERM');
    const deadline = nowMs() + 5000;
    while (this.children.size > 0 && nowMs() < deadline) await sleep(50);
    for (const c of this.children) c.kill('SIGKILL');
    writeFileSync(this.file, ''); // all done: bench/run.sh's trap has nothing left to do
  }
}
