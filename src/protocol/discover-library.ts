// Finds the library a user-supplied URL designates (digest §4.1 steps 2–3): a server origin goes through E1
// GetMyProperties to the personal site; a site URL is used as is; a library URL (`/sites/x/Shared Documents`) names
// its site and list (GetList). Then E2 (default library id, unless a library was named) and E3 (site id).
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
  /** A library URL: its server-relative path (`/sites/team/Shared Documents`), decoded. */
  libraryPath?: string;
}

/** Managed paths under which a site collection lives: `/sites/<name>`, `/teams/<name>`, `/personal/<name>`. */
const MANAGED_PATHS = new Set(['sites', 'teams', 'personal']);

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
  const segs = path.split('/').filter((x) => x !== '');
  if (segs.length >= 3 && MANAGED_PATHS.has((segs[0] ?? '').toLowerCase())) {
    // A library URL, possibly a view of it (`.../Forms/AllItems.aspx`): the site is the first two segments.
    let lib = segs.slice(2);
    const forms = lib.findIndex((x) => x.toLowerCase() === 'forms');
    if (forms >= 0) lib = lib.slice(0, forms);
    if (lib.length > 0 && !lib[0]?.startsWith('_')) {
      const site = `${u.origin}/${segs[0]}/${segs[1]}`;
      let decoded: string;
      try {
        decoded = lib.map((x) => decodeURIComponent(x)).join('/');
      } catch {
        throw new InvalidInputError('library URL has a malformed escape');
      }
      return {
        base: site,
        isOrigin: false,
        libraryPath: `/${decodeURIComponent(segs[0] ?? '')}/${decodeURIComponent(segs[1] ?? '')}/${decoded}`,
      };
    }
    return { base: `${u.origin}/${segs[0]}/${segs[1]}`, isOrigin: false };
  }
  return { base: `${u.origin}${path}`, isOrigin: path === '' };
}

/**
 * The library's web address, the base of an item's `user.spfs.url` (docs/PROTOCOL.md "Web addresses": MS-FILESYNC
 * names no web URL for an item). A mount of a library URL uses that library; a mount of a site or server uses the
 * site's default library under SharePoint's default folder name: `Documents` on a personal site, `Shared
 * Documents` elsewhere.
 */
export function libraryWebUrl(mountUrl: string, siteUrl: string): string {
  const start = parseStartUrl(mountUrl);
  const encode = (path: string): string => path.split('/').map(encodeURIComponent).join('/');
  if (start.libraryPath !== undefined) return new URL(siteUrl).origin + encode(start.libraryPath);
  const site = siteUrl.replace(/\/+$/, '');
  const personal = /^\/personal\//i.test(new URL(site).pathname);
  return `${site}/${encode(personal ? 'Documents' : 'Shared Documents')}`;
}

/** `GetList(@u)?@u='<path>'`: OData string literal, single quotes doubled, then URL-encoded. */
export function getListUrl(site: string, serverRelativePath: string): URL {
  const literal = `'${serverRelativePath.replace(/'/g, "''")}'`;
  return new URL(`${site}/_api/web/GetList(@u)/Id?@u=${encodeURIComponent(literal)}`);
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
  const listHex =
    start.libraryPath !== undefined
      ? decodeGuidResponse(await getJson(getListUrl(siteUrl, start.libraryPath)), 'GetList/Id')
      : decodeGuidResponse(
          await getJson(new URL(`${siteUrl}/_api/web/DefaultDocumentLibrary/ID`)),
          'DefaultDocumentLibrary/ID',
        );
  const siteId = decodeGuidResponse(await getJson(new URL(`${siteUrl}/_api/Site/Id`)), 'Site/Id');
  return { siteUrl, listId: asListId(listHex), siteId };
}
