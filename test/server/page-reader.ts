// Reads an E6/E7 response body into a flat list of entries in document order, remembering each element's enclosing
// folder, so tests can check nesting and ordering without the client's codec.
import { type Node, parseXml } from './xml-compare';

export interface Entry {
  kind: string;
  id: string;
  parentId: string;
  /** ResourceID of the enclosing `<Folder>` element. */
  enclosing: string;
  name: string;
  path: string;
  deleted: boolean;
}

function text(n: Node, name: string): string {
  return n.children.find((c) => c.name === name)?.text ?? '';
}

export function readPage(xml: string): { root: Node; entries: Entry[] } {
  const root = parseXml(xml)[0]!;
  const entries: Entry[] = [];
  const walk = (folder: Node): void => {
    const items = folder.children.find((c) => c.name === 'Items');
    for (const it of items?.children ?? []) {
      entries.push({
        kind: it.name,
        id: text(it, 'ResourceID'),
        parentId: text(it, 'ParentResourceID'),
        enclosing: text(folder, 'ResourceID'),
        name: text(it, 'RelationshipName'),
        path: text(it, 'Path'),
        deleted: text(it, 'IsDeleted') === 'True',
      });
      walk(it);
    }
  };
  walk(root);
  return { root, entries };
}
