// `spfs doctor [URL|DIR]`: gathers the facts (device, programs, config, mount records, the server, the cache disk),
// runs the checks of doctor-checks.ts on them and prints one line each; exit 0 when none failed.
import { closeSync, constants, existsSync, openSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { Agent, request } from 'undici';
import { PROTOCOL_ERROR_CODES } from '../protocol/errors';
import { SpClient } from '../protocol/sp-client';
import { errorMessage, SpfsError } from '../shared/errors';
import { silentLogger } from '../shared/logger';
import { fuse3Unavailable } from '../fuse/mount';
import { authScheme, clientAuthOptions, needsPassword, type AuthCliOptions } from './auth-options';
import { mountpointOf, probeMount } from './control-client';
import { resolveCredentials } from './credentials';
import {
  checkAllowOther,
  checkCacheSpace,
  checkCredentials,
  checkDevFuse,
  checkFuse3Addon,
  checkFusermount,
  checkServerReachable,
  checkStaleMounts,
  doctorExitCode,
  formatCheck,
  type CheckResult,
  type FusermountFact,
  type Reachability,
  type SignIn,
} from './doctor-checks';
import { listMountRecords, readMountRecord } from './mount-registry';
import type { MountStatus } from './mount-status';
import { defaultCacheDir } from './paths';
import { parseSize } from './size-option';
import { UsageError } from './usage-error';

export interface DoctorOptions extends AuthCliOptions {
  user?: string;
  passwordEnv?: string;
  credentialsFile?: string;
  cacheDir?: string;
  cacheSize?: string;
}

const DEFAULT_CACHE_MAX_BYTES = 10 * 1024 ** 3;
/** A server that does not answer within this long counts as unreachable. */
const REACH_TIMEOUT_MS = 10_000;

function openError(path: string): string | undefined {
  try {
    closeSync(openSync(path, constants.O_RDWR));
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? errorMessage(err);
  }
}

function findFusermount(): FusermountFact {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const prog of ['fusermount3', 'fusermount'])
    for (const d of dirs) {
      const path = join(d, prog);
      try {
        const st = statSync(path);
        if (st.isFile()) return { path, setuid: (st.mode & 0o4000) !== 0 && st.uid === 0 };
      } catch {
        // not in this folder
      }
    }
  return { setuid: false };
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Free bytes for us on the filesystem that holds `dir` (or would, once created). */
function freeBytesAt(dir: string): number {
  let d = dir;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  const s = statfsSync(d);
  return s.bavail * s.bsize;
}

async function reach(url: string, o: DoctorOptions): Promise<Reachability> {
  const ca = o.ca !== undefined ? readOrUndefined(o.ca) : undefined;
  const dispatcher = new Agent({
    connect: { ...(ca !== undefined ? { ca } : {}), rejectUnauthorized: o.insecure !== true },
  });
  try {
    const r = await request(url, {
      method: 'GET',
      dispatcher,
      signal: AbortSignal.timeout(REACH_TIMEOUT_MS),
    });
    await r.body.dump();
    return { status: r.statusCode };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { error: cause?.code ?? cause?.message ?? errorMessage(err) };
  } finally {
    await dispatcher.close();
  }
}

async function signIn(url: string, o: DoctorOptions): Promise<SignIn | undefined> {
  const scheme = authScheme(o, o.user !== undefined || o.credentialsFile !== undefined);
  if (scheme === undefined) return undefined;
  const credentials = needsPassword(scheme)
    ? await resolveCredentials(o.user, o.passwordEnv, o.credentialsFile)
    : undefined;
  try {
    const client = await SpClient.connect({
      url,
      ...clientAuthOptions(url, o, scheme, credentials),
      logger: silentLogger(),
    });
    const library = client.library.siteUrl;
    await client.close();
    return { accepted: true, library };
  } catch (err) {
    if (err instanceof SpfsError && err.code === PROTOCOL_ERROR_CODES.auth) return { refused: true };
    return { failed: errorMessage(err) };
  }
}

/** The checks that need FUSE, the programs and the records: what every mount trips over first. */
async function machineChecks(): Promise<{ results: CheckResult[]; mounts: MountStatus[] }> {
  const isRoot = process.getuid?.() === 0;
  const mounts = await Promise.all(listMountRecords().map(async (r) => (await probeMount(r)).status));
  const results = [
    checkDevFuse(openError('/dev/fuse')),
    checkFusermount(findFusermount(), isRoot),
    checkFuse3Addon(fuse3Unavailable()),
    checkAllowOther(readOrUndefined('/etc/fuse.conf'), isRoot),
    ...checkStaleMounts(mounts),
  ];
  return { results, mounts };
}

/** Server, credentials and cache disk for a URL, or for the mount at DIR (its record says which library). */
async function libraryChecks(target: string, o: DoctorOptions): Promise<CheckResult[]> {
  const isUrl = /^https?:\/\//i.test(target);
  const rec = isUrl ? undefined : readMountRecord(mountpointOf(target));
  if (!isUrl && rec === undefined)
    throw new UsageError(`${target} is neither an http(s) URL nor an spfs mount (see spfs status)`);
  const url = rec?.url ?? target;
  const results: CheckResult[] = [];
  const reached = await reach(url, o);
  results.push(checkServerReachable(url, reached));
  const probe = rec !== undefined ? await probeMount(rec) : undefined;
  let s: SignIn | undefined = 'status' in reached ? await signIn(url, o) : undefined;
  if (s === undefined && 'status' in reached)
    s =
      probe?.status.state === 'online'
        ? { accepted: true, library: `${url} (the mount's daemon signs in)` }
        : { skipped: 'not checked: no credentials given' };
  if (s !== undefined) results.push(checkCredentials(s));
  const cacheDir = rec?.cacheDir ?? o.cacheDir ?? defaultCacheDir(url, o.user);
  const cache = probe?.status.cache;
  results.push(
    checkCacheSpace({
      cacheDir,
      freeBytes: freeBytesAt(cacheDir),
      usedBytes: cache?.usedBytes ?? 0,
      maxBytes:
        cache?.maxBytes ??
        (o.cacheSize !== undefined ? parseSize(o.cacheSize, '--cache-size') : DEFAULT_CACHE_MAX_BYTES),
    }),
  );
  return results;
}

export async function doctorCommand(target: string | undefined, o: DoctorOptions): Promise<number> {
  const { results } = await machineChecks();
  if (target !== undefined) results.push(...(await libraryChecks(target, o)));
  for (const r of results) process.stdout.write(`${formatCheck(r)}\n`);
  const failed = results.filter((r) => r.status === 'fail').length;
  process.stdout.write(failed === 0 ? 'spfs doctor: all checks passed\n' : `spfs doctor: ${failed} failed\n`);
  return doctorExitCode(results);
}
