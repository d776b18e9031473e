// Codec for E6 (`Items/{R}?Depth=0&web3s.paging=o,c`): the folder itself and one page of its children (digest G9).
import type { ChildrenPage } from '../types';
import { decodeItem, flattenItems } from './item';
import { parseXmlDocument } from './parser';

/** `hasMore` comes from the X-HasMoreData header, which the caller reads. */
export function decodeChildrenPage(body: string, hasMore: boolean): ChildrenPage {
  const node = parseXmlDocument(body, 'Folder', 'children page');
  return {
    folder: decodeItem(node, 'folder', 'children page'),
    items: flattenItems(node, 'children page'),
    hasMore,
  };
}
