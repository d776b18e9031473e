// The one fast-xml-parser configuration every codec uses: no DTDs, bounded size and depth, values kept as strings,
// repeatable elements always arrays. Hostile or malformed input becomes a ProtocolError, never a crash or a hang.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ProtocolError } from '../errors';

/** Largest response body (after gzip) any codec accepts. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Deepest element nesting accepted; nested change trees use two levels per folder (Folder/Items). */
export const MAX_ELEMENT_DEPTH = 1024;

/** Elements that may repeat: always arrays, even when one is present. */
const REPEATABLE = new Set(['Folder', 'Document', 'DocumentStream', 'Rule']);

export type XmlValue = string | XmlNode | XmlValue[];
export interface XmlNode {
  [name: string]: XmlValue;
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  textNodeName: '#text',
  // Ids like 1e5 and sizes must stay strings; codecs convert deliberately.
  parseTagValue: false,
  parseAttributeValue: false,
  // Names are kept raw (leading/trailing spaces included); codecs ignore whitespace-only text.
  trimValues: false,
  // Decodes the five XML entities and numeric character references; DOCTYPE never reaches the parser.
  processEntities: true,
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_ELEMENT_DEPTH,
  isArray: (name: string, _jPath: unknown, _isLeaf: boolean, isAttribute: boolean) =>
    !isAttribute && REPEATABLE.has(name),
});

const DTD_PATTERN = /<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)/i;
/** Character references (decimal or hex) to the C0 controls and DEL. */
const CONTROL_REFERENCE = /&#(?:x0*([0-9a-f]{1,2})|0*([0-9]{1,3}));/gi;

/**
 * fast-xml-parser drops a reference like `&#0;` from the text, so a name `a&#0;b` would arrive as `ab`: a silent
 * rename the layer above could not see. Decoding those references here keeps the control character in the value,
 * where the name rules refuse it (naming the item).
 */
function decodeControlReferences(text: string): string {
  return text.replace(CONTROL_REFERENCE, (ref, hex: string | undefined, dec: string | undefined) => {
    const code = hex !== undefined ? parseInt(hex, 16) : Number(dec);
    return code < 0x20 || code === 0x7f ? String.fromCharCode(code) : ref;
  });
}

/**
 * Parses one XML document whose single root element must be `rootName`; returns that element's node.
 * `what` names the message in errors ("change page", "policy", ...).
 */
export function parseXmlDocument(body: string, rootName: string, what: string): XmlNode {
  if (Buffer.byteLength(body, 'utf8') > MAX_BODY_BYTES) {
    throw new ProtocolError(`${what}: XML body larger than ${MAX_BODY_BYTES} bytes`);
  }
  if (DTD_PATTERN.test(body)) throw new ProtocolError(`${what}: DOCTYPE/ENTITY declarations are refused`);
  const text = decodeControlReferences(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body);
  if (text.trim().length === 0) throw new ProtocolError(`${what}: empty body, expected <${rootName}>`);

  // The parser bounds depth (maxNestedTags) but is lenient with truncated input; the validator is not.
  let doc: unknown;
  try {
    doc = parser.parse(text);
  } catch (err) {
    throw new ProtocolError(`${what}: unparsable XML (${(err as Error).message})`, { cause: err });
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw new ProtocolError(`${what}: malformed XML at line ${valid.err.line}: ${valid.err.msg}`);
  }
  if (!isNode(doc)) throw new ProtocolError(`${what}: no root element`);
  const roots = Object.keys(doc).filter((k) => !k.startsWith('#') && !k.startsWith('?'));
  if (roots.length !== 1 || roots[0] !== rootName) {
    throw new ProtocolError(`${what}: expected root element <${rootName}>, got ${describe(roots)}`);
  }
  const root = doc[rootName];
  const single = Array.isArray(root) ? root : [root];
  if (single.length !== 1)
    throw new ProtocolError(`${what}: expected one <${rootName}>, got ${single.length}`);
  const node = single[0];
  if (typeof node === 'string') return {};
  if (!isNode(node)) throw new ProtocolError(`${what}: <${rootName}> is not an element`);
  return node;
}

export function isNode(v: unknown): v is XmlNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(names: string[]): string {
  return names.length === 0 ? 'none' : names.map((n) => `<${n.slice(0, 40)}>`).join(', ');
}
