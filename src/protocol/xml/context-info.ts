// Codec for E13 (`POST {site}/_api/contextinfo`, verbose JSON): the form digest and its lifetime.
import { ProtocolError } from '../errors';
import { parseJsonObject } from './discovery';

export interface ContextInfo {
  digest: string;
  timeoutSeconds: number;
}

/** A digest is one header value: printable ASCII, bounded. */
export function validDigest(raw: string | undefined): string | undefined {
  const v = raw?.trim();
  return v !== undefined && v.length > 0 && v.length <= 1024 && /^[\x20-\x7e]+$/.test(v) ? v : undefined;
}

export function decodeContextInfo(body: string): ContextInfo {
  const obj = parseJsonObject(body, 'contextinfo');
  const info = obj.GetContextWebInformation;
  const src =
    typeof info === 'object' && info !== null && !Array.isArray(info)
      ? (info as Record<string, unknown>)
      : obj;
  const digest = typeof src.FormDigestValue === 'string' ? validDigest(src.FormDigestValue) : undefined;
  if (digest === undefined) throw new ProtocolError('contextinfo: missing or malformed FormDigestValue');
  const t = src.FormDigestTimeoutSeconds;
  const timeoutSeconds = typeof t === 'number' && Number.isSafeInteger(t) && t > 0 && t <= 86_400 ? t : 1800;
  return { digest, timeoutSeconds };
}
