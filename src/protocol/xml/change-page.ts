// Codec for E7 (change enumeration, digest §3.3/§4.2): the sync verdict from the X-Sync* headers and the changed
// items from the body, nested or flat.
import type { Logger } from '../../shared/logger';
import { ProtocolError } from '../errors';
import { headerValue, type HeaderMap } from '../headers';
import type { RemoteItem, ResyncAction, SyncStatus } from '../types';
import { decodeItem, flattenItems, type RejectedItem } from './item';
import { parseBool } from './node';
import { parseXmlDocument } from './parser';

const SYNC_STATUSES: readonly SyncStatus[] = [
  'NoChanges',
  'IncrementalChanges',
  'FullData',
  'ResyncNeeded',
  'CurrentSyncTokenOnly',
];
const RESYNC_ACTIONS: readonly ResyncAction[] = [
  'ResetReupload',
  'Reupload',
  'DifferentialUpload',
  'UploadLocalChanges',
  'ResetAllLocalChanges',
];
/** Longest X-SyncToken accepted (observed tokens are ~100 characters). */
export const MAX_SYNC_TOKEN_CHARS = 4096;
/** Printable ASCII without space: a token must survive being pasted into a query string verbatim. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

export interface ChangeHeaders {
  status: SyncStatus;
  token?: string;
  hasMore: boolean;
  resyncAction?: ResyncAction;
}

export interface ChangeBody {
  root: RemoteItem;
  items: RemoteItem[];
  /** Item elements that did not decode (left out; the caller reports them). */
  rejected: RejectedItem[];
}

function canonical<T extends string>(raw: string, values: readonly T[]): T | undefined {
  const v = raw.trim().toLowerCase();
  return values.find((s) => s.toLowerCase() === v);
}

export function validateSyncToken(raw: string, source: string): string {
  if (raw.length > MAX_SYNC_TOKEN_CHARS || !TOKEN_PATTERN.test(raw)) {
    throw new ProtocolError(
      `bad header ${source}: not a printable token of at most ${MAX_SYNC_TOKEN_CHARS} chars`,
    );
  }
  return raw;
}

/**
 * Reads the verdict of a 200 change response. A missing X-SyncToken is an error for FullData/IncrementalChanges; for
 * NoChanges the token that was sent stays valid. An unrecognised ResyncAction falls back to ResetReupload (the most
 * thorough resync) with a warning rather than blocking sync on a value we don't know.
 */
export function decodeChangeHeaders(
  headers: HeaderMap,
  sentToken: string | undefined,
  logger?: Logger,
): ChangeHeaders {
  const rawStatus = headerValue(headers, 'X-SyncStatus');
  if (rawStatus === undefined) throw new ProtocolError('change page: missing header X-SyncStatus');
  const status = canonical(rawStatus, SYNC_STATUSES);
  if (status === undefined) {
    throw new ProtocolError(`bad header X-SyncStatus: ${JSON.stringify(rawStatus.slice(0, 40))}`);
  }
  const out: ChangeHeaders = { status, hasMore: parseBool(headerValue(headers, 'X-HasMoreData')) };

  const rawToken = headerValue(headers, 'X-SyncToken')?.trim();
  if (rawToken) out.token = validateSyncToken(rawToken, 'X-SyncToken');
  else if (status === 'NoChanges' && sentToken !== undefined) out.token = sentToken;
  else if (status === 'FullData' || status === 'IncrementalChanges' || status === 'NoChanges') {
    throw new ProtocolError(`change page: missing header X-SyncToken with X-SyncStatus ${status}`);
  }

  if (status === 'ResyncNeeded') {
    const raw = headerValue(headers, 'ResyncAction') ?? headerValue(headers, 'X-ResyncAction');
    const action = raw === undefined ? undefined : canonical(raw, RESYNC_ACTIONS);
    if (raw !== undefined && action === undefined) {
      logger?.warn({ resyncAction: raw.slice(0, 40) }, 'unknown ResyncAction; treating it as ResetReupload');
    }
    out.resyncAction = action ?? 'ResetReupload';
  }
  return out;
}

export function decodeChangeBody(body: string): ChangeBody {
  const node = parseXmlDocument(body, 'Folder', 'change page');
  const rejected: RejectedItem[] = [];
  const items = flattenItems(node, 'change page', [], rejected);
  return { root: decodeItem(node, 'folder', 'change page'), items, rejected };
}
