// Typed accessors over a parsed XML node: text of a child element, repeated children, attributes. Each failure is a
// ProtocolError that names the element and where it was found.
import { ProtocolError } from '../errors';
import { isNode, type XmlNode, type XmlValue } from './parser';

function own(node: XmlNode, name: string): XmlValue | undefined {
  return Object.prototype.hasOwnProperty.call(node, name) ? node[name] : undefined;
}

/** The text content of a value: a string, or the `#text` of an element that also has attributes. */
function textOf(v: XmlValue, name: string, where: string): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) throw new ProtocolError(`${where}: <${name}> appears more than once`);
  const t = own(v, '#text');
  if (t === undefined) {
    // An element with child elements where text was expected.
    if (Object.keys(v).some((k) => !k.startsWith('@_'))) {
      throw new ProtocolError(`${where}: <${name}> has child elements, expected text`);
    }
    return '';
  }
  if (typeof t !== 'string') throw new ProtocolError(`${where}: <${name}> has mixed content`);
  return t;
}

/** Text of an optional child element; undefined when absent. */
export function optionalText(node: XmlNode, name: string, where: string): string | undefined {
  const v = own(node, name);
  return v === undefined ? undefined : textOf(v, name, where);
}

/** Text of a required child element; a missing element is a ProtocolError naming it. */
export function requiredText(node: XmlNode, name: string, where: string): string {
  const v = optionalText(node, name, where);
  if (v === undefined) throw new ProtocolError(`${where}: missing required element <${name}>`);
  return v;
}

/** A container child element (e.g. `<Items>`, `<DocumentStreams>`), or undefined when absent or empty. */
export function optionalChild(node: XmlNode, name: string, where: string): XmlNode | undefined {
  const v = own(node, name);
  if (v === undefined || typeof v === 'string') return undefined; // `<Items/>` or whitespace only
  if (Array.isArray(v)) throw new ProtocolError(`${where}: <${name}> appears more than once`);
  return v;
}

/** Every occurrence of a repeatable element (always parsed as an array), as element nodes. */
export function repeated(node: XmlNode, name: string, where: string): XmlNode[] {
  const v = own(node, name);
  if (v === undefined) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((e) => {
    if (typeof e === 'string') return {}; // `<Folder/>`: validated (and rejected) by the item codec
    if (!isNode(e)) throw new ProtocolError(`${where}: <${name}> is not an element`);
    return e;
  });
}

export function attribute(node: XmlNode, name: string): string | undefined {
  const v = own(node, `@_${name}`);
  return typeof v === 'string' ? v : undefined;
}

/** `True`/`False` in any case; anything else (or absence) is `fallback`. */
export function parseBool(raw: string | undefined, fallback = false): boolean {
  if (raw === undefined) return fallback;
  const v = raw.trim().toLowerCase();
  return v === 'true' ? true : v === 'false' ? false : fallback;
}

/** A non-negative integer that fits a JS number exactly (sizes, counts). */
export function parseCount(raw: string, name: string, where: string): number {
  const v = raw.trim();
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new ProtocolError(
      `${where}: <${name}> is not a non-negative integer: ${JSON.stringify(v.slice(0, 40))}`,
    );
  }
  return Number(v);
}

/** An ISO-8601 UTC timestamp (7 fractional digits on the wire; JS keeps milliseconds). */
export function parseTimestamp(raw: string, name: string, where: string): Date {
  const v = raw.trim();
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.exec(v);
  const ms = m ? Date.parse(`${m[1]}${m[2] ? m[2].slice(0, 4) : ''}${m[3] ?? 'Z'}`) : NaN;
  if (Number.isNaN(ms)) {
    throw new ProtocolError(`${where}: <${name}> is not a timestamp: ${JSON.stringify(v.slice(0, 40))}`);
  }
  return new Date(ms);
}
