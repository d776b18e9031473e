// Finds the library a user-supplied URL designates (digest §4.1 steps 2–3): a server origin goes through E1
// GetMyProperties to the personal site; a site URL is used as is. Then E2 (default library id) and E3 (site id).
import { InvalidInputError } from '../shared/errors';
import { asListId } from '../shared/ids';
import { ProtocolError } from './errors';
import type { LibraryRef } from './types';
import { decodeGuidResponse, decodePersonalUrl } from './xml/discovery';

/** GETs a URL with `Accept: application/json;odata=verbose` and returns the body (errors already typed). */
export type JsonGetter = (url: URL) => Promise<string>;

export interface StartUrl {
  /** `https://host` or `https://host/personal/x` without query, fragment or trailing slash. */
  base: string;
  isOrigin: boolean;
}

/** Validates the configured URL: http(s) only, no embedded credentials (they would end up in logs). */
export function parseStartUrl(raw: string): StartUrl {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new InvalidInputError('server URL is not an absolute URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new InvalidInputError(`server URL must be http(s), not ${u.protocol}`);
  }
  if (u.username || u.password) throw new InvalidInputError('server URL must not embed credentials');
  const path = u.pathname.replace(/\/+$/, '');
  return { base: `${u.origin}${path}`, isOrigin: path === '' };
}

export async function discoverLibrary(start: StartUrl, getJson: JsonGetter): Promise<LibraryRef> {
  let siteUrl = start.base;
  if (start.isOrigin) {
    siteUrl = decodePersonalUrl(
      await getJson(new URL(`${start.base}/_api/SP.UserProfiles.PeopleManager/GetMyProperties`)),
    );
    // The personal site may live on another host of the farm, but never downgrade https to http.
    if (start.base.startsWith('https:') && !siteUrl.startsWith('https:')) {
      throw new ProtocolError('GetMyProperties: PersonalUrl downgrades https to http');
    }
  }
  const listHex = decodeGuidResponse(
    await getJson(new URL(`${siteUrl}/_api/web/DefaultDocumentLibrary/ID`)),
    'DefaultDocumentLibrary/ID',
  );
  const siteId = decodeGuidResponse(await getJson(new URL(`${siteUrl}/_api/Site/Id`)), 'Site/Id');
  return { siteUrl, listId: asListId(listHex), siteId };
}
