// The file-state rule (src/vfs/file-state.ts) as a table: facts in, user.spfs.state out, precedence included.
import { fileState, REPEATED_FAILURES, type FileFacts } from '../../src/vfs/file-state';

const doc: FileFacts = {
  kind: 'document',
  pinned: false,
  content: 'none',
  sending: false,
  conflictCopy: false,
};
const folder: FileFacts = { ...doc, kind: 'folder' };
const pending = { permanent: false, attempts: 0 };

describe('fileState', () => {
  it.each<[string, FileFacts, string, string | undefined]>([
    ['nothing of it on this device', doc, 'online-only', undefined],
    ['some ranges of the current version', { ...doc, content: 'some' }, 'partial', undefined],
    ['every byte, verified', { ...doc, content: 'complete' }, 'hydrated', undefined],
    ['pinned, whatever is cached', { ...doc, pinned: true, content: 'some' }, 'pinned', undefined],
    ['a pending change', { ...doc, content: 'complete', pending }, 'modified', undefined],
    [
      'a pending change with one transient failure',
      { ...doc, pending: { ...pending, attempts: 1, failure: 'reset' } },
      'modified',
      undefined,
    ],
    ['a request in flight', { ...doc, pending, sending: true }, 'uploading', undefined],
    ['a conflict copy', { ...doc, content: 'complete', conflictCopy: true }, 'conflict', undefined],
    ['a conflict copy, pinned', { ...doc, conflictCopy: true, pinned: true }, 'conflict', undefined],
    ['a conflict copy with a pending change', { ...doc, conflictCopy: true, pending }, 'modified', undefined],
    ['a pinned file with a pending change', { ...doc, pinned: true, pending }, 'modified', undefined],
    [
      'refused for good',
      { ...doc, pending: { permanent: true, attempts: 1, failure: 'InvalidName' } },
      'error',
      'InvalidName',
    ],
    [
      'failing again and again',
      { ...doc, pending: { permanent: false, attempts: REPEATED_FAILURES, failure: '503' } },
      'error',
      '503',
    ],
    [
      'failing again and again while a retry is in flight',
      { ...doc, sending: true, pending: { permanent: false, attempts: REPEATED_FAILURES, failure: '503' } },
      'error',
      '503',
    ],
    ['a folder', folder, 'online-only', undefined],
    ['a pinned folder', { ...folder, pinned: true }, 'pinned', undefined],
    ['a new folder not uploaded yet', { ...folder, pending }, 'modified', undefined],
    [
      'a new folder being created on the server',
      { ...folder, pending, sending: true },
      'uploading',
      undefined,
    ],
  ])('%s', (_what, facts, state, error) => {
    const got = fileState(facts);
    expect(got.state).toBe(state);
    expect(got.error).toBe(error);
  });
});
