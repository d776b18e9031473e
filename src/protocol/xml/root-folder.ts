// Codec for E5 (`RootFolder?web3s.expand=QuotaState`): the library root `<Folder>` and its quota (digest §3.2).
import type { RootFolder } from '../types';
import { decodeItem, decodeQuota } from './item';
import { parseXmlDocument } from './parser';

export function decodeRootFolder(body: string): RootFolder {
  const node = parseXmlDocument(body, 'Folder', 'root folder');
  return { item: decodeItem(node, 'folder', 'root folder'), quota: decodeQuota(node, 'root folder') };
}
