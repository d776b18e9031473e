// Codec for E6 (`Items/{R}?Depth=0&web3s.paging=o,c`): the folder itself and one page of its children (digest G9).
import type { ChildrenPage } from '../types';
import { decodeItem, flattenItems, type RejectedItem } from './item';
import { parseXmlDocument } from './parser';

/**
 * `hasMore` comes from the X-HasMoreData header, which the caller reads. Children that do not decode go to
 * `rejected` (left out; the caller reports them).
 */
export function decodeChildrenPage(
  body: string,
  hasMore: boolean,
  rejected: RejectedItem[] = [],
): ChildrenPage {
  const node = parseXmlDocument(body, 'Folder', 'children page');
  return {
    folder: decodeItem(node, 'folder', 'children page'),
    items: flattenItems(node, 'children page', [], rejected),
    hasMore,
  };
}
