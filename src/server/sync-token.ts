// SyncToken codec (digest §3.7, G7): `4;#4;#1;3;{list-guid};{ticks};{seq};#{cursor};#;#{gen};#`. Field 4 (empty in
// SharePoint's samples) carries our continuation cursor of a paged full enumeration: `F<ord>`; field 6 (`0`/`4` in the
// samples) carries the library's restore generation as `G<n>` once a restore happened (`0` before).
import { dashedGuid, normaliseGuid } from '../shared/ids';

export interface SyncPosition {
  /** 32-hex list id. */
  listId: string;
  /** Change-log sequence number: everything up to and including it is reflected. */
  seq: number;
  /** .NET ticks of that change (informational). */
  ticks: string;
  /** Set while a full enumeration is in progress: the last insertion position (items.ord) delivered. */
  fullCursor?: number;
  /** Restore generation the token was issued in (0 = never restored). */
  generation?: number;
}

/** The header/query form: `#` written as `%23`, nothing else encoded (as SharePoint sends it). */
export function formatSyncToken(p: SyncPosition): string {
  const cursor = p.fullCursor === undefined ? '' : `F${p.fullCursor}`;
  const gen = p.generation ? `G${p.generation}` : '0';
  const raw = `4;#4;#${changeToken(p)};#${cursor};#;#${gen};#`;
  return raw.replace(/#/g, '%23');
}

/** `1;3;{list-guid};{ticks};{seq}`: the plain SharePoint change token, also sent as X-LastProcessedChange. */
export function changeToken(p: SyncPosition): string {
  return `1;3;${dashedGuid(p.listId)};${p.ticks};${p.seq}`;
}

/** Parses a token as it arrives in the query string (already URL-decoded once); undefined when malformed. */
export function parseSyncToken(token: string): SyncPosition | undefined {
  const decoded = token.includes('%23') ? safeDecode(token) : token;
  if (decoded === undefined) return undefined;
  const fields = decoded.split(';#');
  const [version, , change, cursor, , flags] = fields;
  if ((version !== '3' && version !== '4') || change === undefined) return undefined;
  const parts = change.split(';');
  if (parts.length !== 5 || parts[0] !== '1' || parts[1] !== '3') return undefined;
  const listId = normaliseGuid(parts[2] ?? '');
  const ticks = parts[3] ?? '';
  const seqText = parts[4] ?? '';
  if (listId === undefined || !/^\d{1,20}$/.test(ticks) || !/^\d{1,15}$/.test(seqText)) return undefined;
  const pos: SyncPosition = { listId, ticks, seq: Number(seqText) };
  if (cursor !== undefined && cursor !== '') {
    const m = /^F(\d{1,15})$/.exec(cursor);
    if (!m) return undefined;
    pos.fullCursor = Number(m[1]);
  }
  const g = /^G(\d{1,9})$/.exec(flags ?? '');
  if (g) pos.generation = Number(g[1]);
  return pos;
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
