// Codec for E4 (`policy/`): `<PolicyDocument><Rule name value/>…` → Policy, unknown rules kept (digest §3.6).
import { ProtocolError } from '../errors';
import type { Policy } from '../types';
import { attribute, repeated } from './node';
import { parseXmlDocument } from './parser';

export const DEFAULT_ITEM_COUNT = 500;
/** The server caps pages at 1000 (digest G8); asking for more is pointless. */
export const MAX_ITEM_COUNT = 1000;
export const DEFAULT_INLINE_UPLOAD_THRESHOLD_BYTES = 8 * 1024 * 1024;
export const DEFAULT_POLLING_INTERVAL_SECONDS = 120;

function positiveInt(rules: Map<string, string>, name: string, fallback: number): number {
  const raw = rules.get(name);
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = raw.trim();
  if (!/^\d{1,16}$/.test(v) || Number(v) === 0 || !Number.isSafeInteger(Number(v))) {
    throw new ProtocolError(
      `policy: rule ${name} is not a positive integer: ${JSON.stringify(v.slice(0, 40))}`,
    );
  }
  return Number(v);
}

export function decodePolicy(body: string): Policy {
  const node = parseXmlDocument(body, 'PolicyDocument', 'policy');
  const rules = new Map<string, string>();
  repeated(node, 'Rule', 'policy').forEach((rule, i) => {
    const name = attribute(rule, 'name');
    if (name === undefined || name.trim() === '')
      throw new ProtocolError(`policy: <Rule> #${i + 1} has no name`);
    rules.set(name.trim(), attribute(rule, 'value') ?? ''); // a repeated name: the last one wins
  });
  const policy: Policy = {
    rules,
    itemCount: Math.min(positiveInt(rules, 'ItemCount', DEFAULT_ITEM_COUNT), MAX_ITEM_COUNT),
    inlineUploadThreshold: positiveInt(rules, 'InlineUploadThreshold', DEFAULT_INLINE_UPLOAD_THRESHOLD_BYTES),
    pollingIntervalSeconds: positiveInt(rules, 'PollingIntervalSeconds', DEFAULT_POLLING_INTERVAL_SECONDS),
  };
  const template = rules.get('DownloadUrlTemplate');
  if (template) policy.downloadUrlTemplate = template;
  return policy;
}
