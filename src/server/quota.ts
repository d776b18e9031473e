// The library's quota as the root folder reports it (digest §3.2, G17) and as the X-QuotaState headers echo it.
import type { ServerContext } from './context';
import { type QuotaInfo, quotaState } from './item-xml';

export function currentQuota(ctx: ServerContext): QuotaInfo {
  const used = ctx.store.spaceUsed();
  return { state: quotaState(used, ctx.spaceGrantedBytes), used, granted: ctx.spaceGrantedBytes };
}

/** One library per site here, so the site and list quota states are the same. */
export function quotaHeaders(q: QuotaInfo): Record<string, string> {
  return { 'X-QuotaState': q.state, 'X-ListLevelQuotaState': q.state };
}

/** `web3s.expand` as a lower-case set of the optional groups asked for (digest G9). */
export function expandSet(raw: string | undefined): Set<string> {
  return new Set(
    (raw ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s.length > 0),
  );
}
