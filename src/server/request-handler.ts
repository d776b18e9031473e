// One request end to end: authenticate, route, run the handler, map typed errors to SharePoint error responses, and
// write the request-log line when the response is done.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ADMIN_PREFIX, type AdminDeps, handleAdmin } from './admin-api';
import type { Authenticator } from './authenticator';
import { applyFaults } from './fault-injection';
import type { FaultPlan } from './fault-plan';
import type { Exchange } from './context';
import type { Clock } from '../shared/clock';
import type { Logger } from '../shared/logger';
import type { LibraryRegistry } from './library-registry';
import { Query, sendError } from './http-util';
import type { RequestLog } from './request-log';
import { route } from './router';
import { HttpError, ItemNotFoundError } from './server-errors';
import { WriteRefusedError } from './write-errors';

export interface HandlerDeps {
  auth: Authenticator;
  libraries: LibraryRegistry;
  /** `http` or `https`: the scheme of origins built from the Host header. */
  scheme: string;
  /** The listening origin, used when a request has no usable Host header. */
  origin: string;
  requestLog: RequestLog | undefined;
  clock: Clock;
  logger: Logger;
  /** Scripted faults (--fault flags, admin API). */
  faults: FaultPlan;
  /** Set with --admin: the admin endpoint under /_spfs/admin. */
  admin: AdminDeps | undefined;
}

const HOST_HEADER = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

export async function handleRequest(
  deps: HandlerDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const startedMs = Date.now();
  const stats: Exchange['stats'] = { bytes: 0 };
  const host = req.headers.host;
  const origin = host !== undefined && HOST_HEADER.test(host) ? `${deps.scheme}://${host}` : deps.origin;
  const url = parseUrl(origin, req.url);
  let user: string | undefined;
  res.once('close', () => {
    deps.requestLog?.write({
      t: new Date(deps.clock.now()).toISOString(),
      method: req.method ?? '',
      path: url.pathname,
      query: url.search.replace(/^\?/, ''),
      status: res.statusCode,
      user: user ?? null,
      bytes: stats.bytes,
      ...(stats.range !== undefined ? { range: stats.range } : {}),
      ms: Date.now() - startedMs,
    });
  });
  try {
    if (deps.admin !== undefined && url.pathname.toLowerCase().startsWith(ADMIN_PREFIX)) {
      return await handleAdmin(deps.admin, req, res, url);
    }
    const who = deps.auth.authenticate(req);
    if (who.user === undefined) {
      res.setHeader('WWW-Authenticate', [...who.challenges]);
      return await sendError(req, res, stats, 401);
    }
    user = who.user;
    const libs = deps.libraries;
    const match = route(url.pathname, (key) => libs.site(key)?.site);
    if (!match) return await sendError(req, res, stats, 404);
    const lib = match.site !== undefined ? libs.site(match.site) : libs.personal(user);
    if (lib === undefined) return await sendError(req, res, stats, 404);
    // Isolation: a library the caller is no member of is 403 whatever path or list id names it.
    const named = match.listId !== undefined ? libs.byListId(match.listId) : undefined;
    if (!libs.canAccess(user, lib) || (named !== undefined && !libs.canAccess(user, named))) {
      return await sendError(req, res, stats, 403);
    }
    if (match.listId !== undefined && match.listId !== lib.ctx.meta.listId) {
      return await sendError(req, res, stats, 404);
    }
    if (!match.methods.includes(req.method ?? '')) {
      return await sendError(req, res, stats, 405, { Allow: match.methods.join(', ') });
    }
    const ex: Exchange = {
      req,
      res,
      url,
      query: new Query(url.searchParams),
      user,
      origin,
      siteUrl: `${origin}/${lib.site}`,
      stats,
    };
    const rules = deps.faults.take(req.method ?? '', `${url.pathname}${url.search}`);
    if (rules.length > 0 && (await applyFaults(lib.ctx, ex, rules))) return;
    await match.run(lib.ctx, ex);
  } catch (err) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof ItemNotFoundError) return sendError(req, res, stats, 404);
    if (err instanceof HttpError) return sendError(req, res, stats, err.status);
    // A refusal before any item ran (an inline part above MaxFileSize): the whole request gets its status.
    if (err instanceof WriteRefusedError) return sendError(req, res, stats, err.httpStatus);
    deps.logger.error({ err, method: req.method, path: url.pathname }, 'request failed');
    return sendError(req, res, stats, 500);
  }
}

/** The request target against our origin; a target that is not a path (`//host/x`, garbage) is kept as a path. */
function parseUrl(origin: string, target: string | undefined): URL {
  try {
    return new URL(`${origin}${target?.startsWith('/') ? target : `/${target ?? ''}`}`);
  } catch {
    return new URL(`${origin}/`);
  }
}
