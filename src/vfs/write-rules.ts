// Which names a mount accepts for new items (SharePoint's rules, checked at create/rename time so nothing fails
// later in the background) and which editor temp names stay local-only (never uploaded).
import { splitPath } from '../shared/names';
import {
  sharePointNameProblem,
  sharePointPathChars,
  SHAREPOINT_MAX_PATH_CHARS,
} from '../shared/sharepoint-names';
import type { Logger } from '../shared/logger';
import { FsError } from './errors';

/** Editors' scratch files: lock files, swap files, write tests, temp saves. Created under these names, never uploaded. */
const LOCAL_ONLY = [/^\.~lock\..*#$/, /^~\$/, /^\..*\.sw[a-p]$/, /\.tmp$/i, /^4913$/];

export function isLocalOnlyName(name: string): boolean {
  return LOCAL_ONLY.some((re) => re.test(name));
}

/**
 * Throws EINVAL (and logs the rule) when SharePoint would refuse `name` at `path`; local-only names pass. `below`:
 * for a folder being moved, the length of the longest path under it (`/child/grandchild...`), which the limit
 * covers too.
 */
export function checkNewName(path: string, name: string, logger: Logger, below = 0): void {
  if (isLocalOnlyName(name)) return;
  const problem = sharePointNameProblem(name);
  if (problem !== undefined) {
    logger.warn({ path, rule: problem }, `refused name ${JSON.stringify(name)}: ${problem}`);
    throw new FsError('EINVAL', `${path}: SharePoint refuses this name (${problem})`);
  }
  if (sharePointPathChars(splitPath(path)) + below > SHAREPOINT_MAX_PATH_CHARS) {
    const rule = `path longer than ${SHAREPOINT_MAX_PATH_CHARS} characters`;
    logger.warn({ path, rule }, `refused path: ${rule}`);
    throw new FsError('EINVAL', `${path}: ${rule}`);
  }
}
