// Rules for item names crossing the server/filesystem boundary. A name that would escape its folder or can't be a
// POSIX file name is rejected here, once, for both the client and the server.
import { InvalidInputError } from './errors';

const MAX_NAME_BYTES = 255;

/** Why a server-supplied name can't be shown as a local file name, or undefined when it can. */
export function unsafeNameReason(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name === '.' || name === '..') return `reserved name ${JSON.stringify(name)}`;
  if (name.includes('/')) return 'contains "/"';
  if (name.includes('\\')) return 'contains "\\"';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a control character';
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return `longer than ${MAX_NAME_BYTES} bytes`;
  return undefined;
}

export function assertSafeName(name: string): string {
  const reason = unsafeNameReason(name);
  if (reason !== undefined)
    throw new InvalidInputError(`invalid item name ${JSON.stringify(name)}: ${reason}`);
  return name;
}

/** SharePoint compares names case-insensitively; this is the key for that comparison. */
export function foldName(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/** Splits an absolute mount path (`/a/b`) into its segments; `/` gives []. */
export function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s.length > 0);
}
