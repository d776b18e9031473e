// Codecs for the JSON discovery calls: E1 GetMyProperties → PersonalUrl, E2/E3 `{"d":{"Id":…}}` → GUID.
// Accepts OData verbose (`{"d":{…}}`) and nometadata (`{…}` / `{"value":…}`) shapes.
import { normaliseGuid } from '../../shared/ids';
import { ProtocolError } from '../errors';
import { MAX_BODY_BYTES } from './parser';

type Json = Record<string, unknown>;

export function parseJsonObject(body: string, what: string): Json {
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES)
    throw new ProtocolError(`${what}: JSON body too large`);
  let v: unknown;
  try {
    v = JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body);
  } catch (err) {
    throw new ProtocolError(`${what}: malformed JSON`, { cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ProtocolError(`${what}: not a JSON object`);
  const obj = v as Json;
  const d = Object.prototype.hasOwnProperty.call(obj, 'd') ? obj.d : undefined;
  if (typeof d === 'object' && d !== null && !Array.isArray(d)) return d as Json;
  return obj;
}

/** Own property lookup with a case-insensitive name (`Id`, `ID`, `id`). */
function field(obj: Json, name: string): unknown {
  const want = name.toLowerCase();
  const key = Object.keys(obj).find((k) => k.toLowerCase() === want);
  return key === undefined ? undefined : obj[key];
}

/** E1: the personal site URL, without a trailing slash. Must be an absolute http(s) URL. */
export function decodePersonalUrl(body: string): string {
  const raw = field(parseJsonObject(body, 'GetMyProperties'), 'PersonalUrl');
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new ProtocolError('GetMyProperties: missing PersonalUrl (the user may have no personal site)');
  }
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch (err) {
    throw new ProtocolError('GetMyProperties: PersonalUrl is not an absolute URL', { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProtocolError(`GetMyProperties: PersonalUrl has unsupported scheme ${url.protocol}`);
  }
  if (url.username || url.password)
    throw new ProtocolError('GetMyProperties: PersonalUrl carries credentials');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** E2/E3: a GUID in `Id` (or `value`), normalised to 32 lowercase hex. */
export function decodeGuidResponse(body: string, what: string): string {
  const obj = parseJsonObject(body, what);
  const raw = field(obj, 'Id') ?? field(obj, 'value');
  const hex = typeof raw === 'string' ? normaliseGuid(raw.trim()) : undefined;
  if (hex === undefined) throw new ProtocolError(`${what}: Id is missing or not a GUID`);
  return hex;
}
