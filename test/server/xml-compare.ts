// Whitespace-insensitive, order-preserving XML comparison for golden fixtures: both documents are parsed into
// element trees and compared structurally, so a mismatch names the element path.
import { XMLParser } from 'fast-xml-parser';

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  trimValues: true,
  parseTagValue: false,
  parseAttributeValue: false,
  ignoreDeclaration: true,
  processEntities: true,
});

/** A plain tree: `[name, text | children, attrs]` per element. */
export type Node = { name: string; attrs: Record<string, string>; text?: string; children: Node[] };

function convert(raw: unknown[]): Node[] {
  const out: Node[] = [];
  for (const entry of raw as Record<string, unknown>[]) {
    const name = Object.keys(entry).find((k) => k !== ':@');
    if (name === undefined || name === '#text') continue;
    const attrs = (entry[':@'] ?? {}) as Record<string, string>;
    const body = entry[name] as Record<string, unknown>[];
    const textEntry = body.find((b) => '#text' in b);
    const node: Node = { name, attrs, children: convert(body) };
    if (textEntry) node.text = String(textEntry['#text']);
    out.push(node);
  }
  return out;
}

export function parseXml(xml: string): Node[] {
  return convert(parser.parse(xml) as unknown[]);
}

/** Differences between two XML documents as readable lines (empty = equal). */
export function xmlDiff(actual: string, expected: string): string[] {
  const diffs: string[] = [];
  const walk = (a: Node[], e: Node[], at: string): void => {
    const n = Math.max(a.length, e.length);
    for (let i = 0; i < n; i++) {
      const x = a[i];
      const y = e[i];
      const here = `${at}/${y?.name ?? x?.name ?? '?'}[${i}]`;
      if (!x || !y) {
        diffs.push(`${here}: ${x ? 'unexpected element' : 'missing element'}`);
        continue;
      }
      if (x.name !== y.name) diffs.push(`${here}: element ${x.name} != ${y.name}`);
      if ((x.text ?? '') !== (y.text ?? ''))
        diffs.push(`${here}: text ${JSON.stringify(x.text)} != ${JSON.stringify(y.text)}`);
      if (JSON.stringify(x.attrs) !== JSON.stringify(y.attrs)) {
        diffs.push(`${here}: attributes ${JSON.stringify(x.attrs)} != ${JSON.stringify(y.attrs)}`);
      }
      walk(x.children, y.children, here);
    }
  };
  walk(parseXml(actual), parseXml(expected), '');
  return diffs;
}
