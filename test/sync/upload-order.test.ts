// The order of pending changes as plain functions: a folder delete waits for every move out of its server subtree
// (the server deletes a folder with everything in it), other deletes go at once.
import type { JournalEntry } from '../../src/cache/upload-journal';
import type { ItemId } from '../../src/shared/ids';
import { planDeletes, type ServerPlaces } from '../../src/sync/upload-order';

const id = (s: string): ItemId => s as ItemId;

function entry(itemId: string, over: Partial<JournalEntry>): JournalEntry {
  return {
    itemId: id(itemId),
    kind: 'document',
    baseEtag: undefined,
    remoteParent: undefined,
    remoteName: undefined,
    content: false,
    deleted: false,
    size: 0,
    seq: 1,
    changedMs: 0,
    attempts: 0,
    nextTryMs: 0,
    failure: undefined,
    permanent: false,
    sentTo: undefined,
    ...over,
  };
}

/** Server tree: root ← D ← E ← x; root ← F. `moved` lists the entries whose items are elsewhere locally. */
function places(moved: Set<string>): ServerPlaces {
  const parent: Record<string, string> = { D: 'root', E: 'D', F: 'root' };
  return { serverParentOf: (i) => parent[i] as ItemId | undefined, movedAway: (e) => moved.has(e.itemId) };
}

describe('planDeletes', () => {
  const delD = entry('D', { kind: 'folder', deleted: true, remoteParent: id('root'), remoteName: 'D' });
  const delF = entry('F', { kind: 'folder', deleted: true, remoteParent: id('root'), remoteName: 'F' });
  const moveX = entry('x', {
    remoteParent: id('E'),
    remoteName: 'x',
    baseEtag: '"1"' as JournalEntry['baseEtag'],
  });

  it('holds a folder delete while something deep inside it on the server has moved away here', () => {
    const plan = planDeletes([delD, delF], [delD, delF, moveX], places(new Set(['x'])));
    expect(plan.free.map((e) => e.itemId)).toEqual(['F']);
    expect(plan.blocked).toEqual([{ del: delD, moves: [moveX] }]);
  });

  it('lets it go once the move is done, or when the item inside was not moved', () => {
    expect(planDeletes([delD], [delD], places(new Set())).free).toEqual([delD]);
    expect(planDeletes([delD], [delD, moveX], places(new Set())).free).toEqual([delD]);
  });

  it('never holds a file delete', () => {
    const delFile = entry('y', { deleted: true, remoteParent: id('D'), remoteName: 'y' });
    expect(planDeletes([delFile], [delFile, moveX], places(new Set(['x']))).free).toEqual([delFile]);
  });
});
