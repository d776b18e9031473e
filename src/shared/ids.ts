// Branded identifiers of the SPFileSync model, so a ResourceID, an ETag and a list id can't be swapped by accident.

export type ItemId = string & { readonly __brand: 'ItemId' };
export type ETag = string & { readonly __brand: 'ETag' };
export type ListId = string & { readonly __brand: 'ListId' };

const HEX32 = /^[0-9a-f]{32}$/;

/** Normalises a GUID in any of its spellings (dashed, braced, upper case) to 32 lowercase hex digits. */
export function normaliseGuid(raw: string): string | undefined {
  const hex = raw.replace(/[{}-]/g, '').toLowerCase();
  return HEX32.test(hex) ? hex : undefined;
}

export function asItemId(raw: string): ItemId {
  const hex = normaliseGuid(raw);
  if (hex === undefined) throw new TypeError(`not a ResourceID: ${JSON.stringify(raw.slice(0, 64))}`);
  return hex as ItemId;
}

export function asListId(raw: string): ListId {
  const hex = normaliseGuid(raw);
  if (hex === undefined) throw new TypeError(`not a list id: ${JSON.stringify(raw.slice(0, 64))}`);
  return hex as ListId;
}

export function asETag(raw: string): ETag {
  return raw as ETag;
}

/** 32-hex → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lowercase). */
export function dashedGuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Document ETag: `"{UPPER-DASHED-GUID},n"` including the quotes (digest §3.4). */
export function documentETag(id: string, version: number): ETag {
  return `"{${dashedGuid(id).toUpperCase()}},${version}"` as ETag;
}

/** The version number in a document ETag, or undefined for folder ETags and unknown shapes. */
export function etagVersion(etag: string): number | undefined {
  const m = /,(\d+)"?$/.exec(etag);
  return m ? Number(m[1]) : undefined;
}
