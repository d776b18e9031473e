// SharePoint's own name rules (digest §5 "Invalid name/path"): what a document library refuses to store. Shared so the
// server refuses the same names the client will refuse to upload.

const FORBIDDEN_CHARS = /["*:<>?/\\|]/;
const RESERVED_BASENAMES = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
const RESERVED_NAMES = new Set(['desktop.ini', '.lock']);
/** SharePoint's limit on a decoded item path, in characters. */
export const SHAREPOINT_MAX_PATH_CHARS = 400;
/** The protocol's `Path` of the library root; every item's path starts with it. */
export const ROOT_FOLDER_PATH = '/RootFolder';

/**
 * What the limit is measured on: the item's path as the protocol's `Path` spells it, `/RootFolder/Docs/a.txt` for
 * the library path `Docs/a.txt` (UTF-16 code units, as the server counts).
 */
export function sharePointPathChars(segments: readonly string[]): number {
  return segments.reduce((n, s) => n + 1 + s.length, ROOT_FOLDER_PATH.length);
}

/** Why SharePoint would refuse `name` as a file or folder name, or undefined when it is acceptable. */
export function sharePointNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (FORBIDDEN_CHARS.test(name)) return 'contains a character SharePoint forbids (" * : < > ? / \\ |)';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a control character';
  if (name !== name.trim()) return 'leading or trailing spaces';
  if (name.endsWith('.')) return 'ends with "."';
  if (RESERVED_BASENAMES.test(name)) return 'reserved device name';
  if (RESERVED_NAMES.has(name.toLowerCase())) return 'reserved name';
  if (name.toLowerCase().includes('_vti_')) return 'contains "_vti_"';
  return undefined;
}
