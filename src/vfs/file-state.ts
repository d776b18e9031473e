// One item's state as `getfattr` shows it (user.spfs.state, docs/SEMANTICS.md "File states"), decided from facts
// the owners already hold: the items row (pinned), the content cache (ranges of the current version), the upload
// journal (a pending change, its failures), the uploader (a request in flight) and the name (a conflict copy). A
// plain function: the caller gathers the facts from SQLite and memory only, so reading a state never downloads
// content and never waits on the network.

export const FILE_STATES = [
  'online-only',
  'partial',
  'hydrated',
  'pinned',
  'modified',
  'uploading',
  'conflict',
  'error',
] as const;
export type FileState = (typeof FILE_STATES)[number];

/** Failed attempts of one pending change after which it shows as `error` (a permanent refusal does at once). */
export const REPEATED_FAILURES = 3;

export interface FileFacts {
  kind: 'folder' | 'document';
  /** items.pinned: kept on this device. */
  pinned: boolean;
  /**
   * What this device holds of the current version's bytes: none, some ranges, or all of them (verified in the
   * content cache, or a local copy). Folders: 'none' (a folder has no content; its listing is always local).
   */
  content: 'none' | 'some' | 'complete';
  /** The upload journal's row, when the item has a change the server has not seen yet. */
  pending?: { failure?: string; permanent: boolean; attempts: number };
  /** The uploader has a request for this item in flight right now. */
  sending: boolean;
  /** The item is a conflict copy the uploader made (`name (conflict from host date).ext`). */
  conflictCopy: boolean;
}

export interface StateOf {
  state: FileState;
  /** Why the upload is failing; only with state `error`. */
  error?: string;
}

/**
 * Precedence, first that applies: error > uploading > modified > conflict > pinned > hydrated > partial >
 * online-only. What needs the user's attention comes first; then where the change is; then where the bytes are.
 */
export function fileState(f: FileFacts): StateOf {
  const p = f.pending;
  if (p?.failure !== undefined && (p.permanent || p.attempts >= REPEATED_FAILURES))
    return { state: 'error', error: p.failure };
  if (f.sending) return { state: 'uploading' };
  if (p !== undefined) return { state: 'modified' };
  if (f.conflictCopy) return { state: 'conflict' };
  if (f.pinned) return { state: 'pinned' };
  if (f.kind === 'folder') return { state: 'online-only' };
  if (f.content === 'complete') return { state: 'hydrated' };
  if (f.content === 'some') return { state: 'partial' };
  return { state: 'online-only' };
}
