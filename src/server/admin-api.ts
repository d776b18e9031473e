// The admin endpoint (`--admin`): loopback only, its own bearer token (never a user's password). Scripts faults
// (`/_spfs/admin/faults`) and applies changes as another user (`/_spfs/admin/changes`). JSON in, JSON out.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidInputError, errorMessage } from '../shared/errors';
import { type AdminChange, applyAdminChange } from './admin-changes';
import { type FaultPlan, checkFaultSpec } from './fault-plan';
import type { LibraryRegistry } from './library-registry';
import { SpfsError } from '../shared/errors';

export const ADMIN_PREFIX = '/_spfs/admin';
const MAX_ADMIN_BODY_BYTES = 96 * 1024 * 1024;

export interface AdminDeps {
  token: string;
  faults: FaultPlan;
  libraries: LibraryRegistry;
}

function sha(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.replace(/^::ffff:/i, '');
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json;charset=utf-8');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_ADMIN_BODY_BYTES) throw new InvalidInputError('admin request body too large');
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  } catch {
    throw new InvalidInputError('admin request body is not JSON');
  }
}

/** Handles a request under ADMIN_PREFIX completely. */
export async function handleAdmin(
  deps: AdminDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  if (!isLoopback(req.socket.remoteAddress))
    return json(res, 403, { error: 'the admin endpoint is loopback only' });
  const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(req.headers.authorization ?? '');
  if (!m || !timingSafeEqual(sha(m[1] ?? ''), sha(deps.token))) {
    res.setHeader('WWW-Authenticate', 'Bearer realm="spfs-admin"');
    return json(res, 401, { error: 'admin token required' });
  }
  const sub = url.pathname.slice(ADMIN_PREFIX.length).replace(/\/+$/, '');
  try {
    if (sub === '/faults') {
      if (req.method === 'GET') return json(res, 200, { faults: deps.faults.list() });
      if (req.method === 'DELETE') {
        deps.faults.clear();
        return json(res, 200, { faults: [] });
      }
      if (req.method === 'POST') {
        const body = await readJson(req);
        const specs = Array.isArray(body) ? body : [body];
        const added = specs.map((s) => deps.faults.add(checkFaultSpec(s)));
        return json(res, 201, { faults: added });
      }
    }
    if (sub === '/restored' && req.method === 'POST') {
      // As after restoring the data dir from a backup: every older sync token gets ResyncNeeded.
      const body = (await readJson(req)) as { site?: unknown } | null;
      const site = body !== null && typeof body === 'object' ? body.site : undefined;
      if (site !== undefined && typeof site !== 'string')
        throw new InvalidInputError('site must be a string');
      const one = site !== undefined ? deps.libraries.site(site) : undefined;
      if (site !== undefined && one === undefined) throw new InvalidInputError(`no such site: ${site}`);
      const out = (one ? [one] : deps.libraries.all()).map((l) => {
        const generation = l.ctx.store.bumpGeneration();
        l.ctx.notifyChange();
        return { site: l.site, generation };
      });
      return json(res, 200, { libraries: out });
    }
    if (sub === '/changes' && req.method === 'POST') {
      const body = (await readJson(req)) as (AdminChange & { site?: string }) | null;
      if (body === null || typeof body !== 'object') throw new InvalidInputError('expected a change object');
      const lib =
        deps.libraries.site(body.site ?? '') ??
        (body.site === undefined ? deps.libraries.all()[0] : undefined);
      if (lib === undefined) throw new InvalidInputError(`no such site: ${String(body.site)}`);
      const it = await applyAdminChange(lib.ctx, body);
      return json(res, 200, {
        site: lib.site,
        item: it && { id: it.id, name: it.name, version: it.version, kind: it.kind, size: it.size },
      });
    }
    return json(res, 404, { error: 'unknown admin path or method' });
  } catch (err) {
    if (err instanceof SpfsError) return json(res, 400, { error: errorMessage(err), code: err.code });
    throw err;
  }
}
