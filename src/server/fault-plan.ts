// Scripted faults (product code for tests and demos): rules that hit the next N matching requests or every matching
// request until a deadline, optionally only for a method and a path regex. Set by --fault flags or the admin API.
import { InvalidInputError } from '../shared/errors';
import { HOSTILE_CASES, type HostileCase } from './hostile-responses';

export const FAULT_KINDS = [
  'latency',
  'status',
  'reset',
  'reset-mid-body',
  'stall',
  'truncate',
  'malformed-xml',
  'etag-conflict',
  'resync-needed',
  'hostile',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRuleSpec {
  kind: FaultKind;
  /** Hit this many matching requests, then retire. Default 1 unless `forMs` is given. */
  count?: number;
  /** Active for this long from when it is added (every matching request), ms. */
  forMs?: number;
  /** Only this HTTP method (any case). */
  method?: string;
  /** Only request paths (pathname + search) matching this regex (case-insensitive). */
  path?: string;
  /** latency: added delay. */
  delayMs?: number;
  /** status: 429 or 503. */
  status?: number;
  /** status: Retry-After seconds (default 1). */
  retryAfterSeconds?: number;
  /** reset-mid-body, stall, truncate: body bytes sent before the fault (default 0 for stall, else half). */
  afterBytes?: number;
  /** stall: how long to hold the connection before closing it (default until the client gives up). */
  stallMs?: number;
  /** hostile: which malicious response replaces the real one (src/server/hostile-responses.ts). */
  case?: HostileCase;
  /** hostile `redirect`: the Location sent (an http(s) URL). */
  location?: string;
}

export interface FaultRule extends FaultRuleSpec {
  id: number;
  /** Remaining hits; undefined = unlimited within the time window. */
  remaining?: number;
  untilMs?: number;
}

const MAX_RULES = 1000;
const MAX_DELAY_MS = 10 * 60 * 1000;

/** Validates one spec; throws InvalidInputError naming the field. */
export function checkFaultSpec(raw: unknown): FaultRuleSpec {
  if (typeof raw !== 'object' || raw === null) throw new InvalidInputError('a fault is a JSON object');
  const s = raw as Record<string, unknown>;
  if (!FAULT_KINDS.includes(s.kind as FaultKind))
    throw new InvalidInputError(`fault kind must be one of ${FAULT_KINDS.join(', ')}`);
  const int = (k: string, max: number): void => {
    const v = s[k];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max))
      throw new InvalidInputError(`fault ${k} must be an integer 0..${max}`);
  };
  int('count', 1_000_000);
  int('forMs', 24 * 3600 * 1000);
  int('delayMs', MAX_DELAY_MS);
  int('retryAfterSeconds', 3600);
  int('afterBytes', Number.MAX_SAFE_INTEGER);
  int('stallMs', MAX_DELAY_MS);
  if (s.kind === 'status' && s.status !== 429 && s.status !== 503)
    throw new InvalidInputError('fault status must be 429 or 503');
  if (s.kind === 'hostile' && !HOSTILE_CASES.includes(s.case as HostileCase))
    throw new InvalidInputError(`fault case must be one of ${HOSTILE_CASES.join(', ')}`);
  if (
    s.location !== undefined &&
    (typeof s.location !== 'string' || !/^https?:\/\/[^\s]{1,500}$/.test(s.location))
  )
    throw new InvalidInputError('fault location must be an http(s) URL');
  if (s.method !== undefined && (typeof s.method !== 'string' || !/^[A-Za-z_]{1,16}$/.test(s.method)))
    throw new InvalidInputError('fault method must be an HTTP method');
  if (s.path !== undefined) {
    if (typeof s.path !== 'string' || s.path.length > 500)
      throw new InvalidInputError('fault path must be a regex');
    try {
      new RegExp(s.path, 'i');
    } catch (err) {
      throw new InvalidInputError('fault path is not a valid regex', { cause: err });
    }
  }
  return s as unknown as FaultRuleSpec;
}

/** `kind[:key=value,...]`, e.g. `status:status=503,retryAfterSeconds=2,count=3,path=Filter=changes`. */
export function parseFaultFlag(flag: string): FaultRuleSpec {
  const [kind, rest] = flag.split(/:(.*)/s, 2);
  const spec: Record<string, unknown> = { kind };
  for (const pair of rest ? rest.split(',') : []) {
    const [k, v] = pair.split(/=(.*)/s, 2);
    if (!k || v === undefined)
      throw new InvalidInputError(`--fault ${flag}: expected key=value, got ${pair}`);
    spec[k] = /^\d+$/.test(v) && !['path', 'method', 'case', 'location'].includes(k) ? Number(v) : v;
  }
  return checkFaultSpec(spec);
}

export class FaultPlan {
  private rules: FaultRule[] = [];
  private nextId = 1;

  constructor(private readonly nowMs: () => number = Date.now) {}

  add(spec: FaultRuleSpec): FaultRule {
    if (this.rules.length >= MAX_RULES) throw new InvalidInputError(`at most ${MAX_RULES} fault rules`);
    const rule: FaultRule = { ...spec, id: this.nextId++ };
    if (spec.forMs !== undefined) rule.untilMs = this.nowMs() + spec.forMs;
    if (spec.count !== undefined || spec.forMs === undefined) rule.remaining = spec.count ?? 1;
    this.rules.push(rule);
    return rule;
  }

  list(): FaultRule[] {
    this.prune();
    return this.rules.map((r) => ({ ...r }));
  }

  clear(): void {
    this.rules = [];
  }

  /** The rules this request triggers (each hit counted), oldest first. */
  take(method: string, pathAndQuery: string): FaultRule[] {
    this.prune();
    const hits = this.rules.filter(
      (r) =>
        (r.method === undefined || r.method.toUpperCase() === method.toUpperCase()) &&
        (r.path === undefined || new RegExp(r.path, 'i').test(pathAndQuery)),
    );
    for (const r of hits) if (r.remaining !== undefined) r.remaining--;
    this.prune();
    return hits;
  }

  private prune(): void {
    const now = this.nowMs();
    this.rules = this.rules.filter(
      (r) => (r.remaining === undefined || r.remaining > 0) && (r.untilMs === undefined || r.untilMs > now),
    );
  }
}
