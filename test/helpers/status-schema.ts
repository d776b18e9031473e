// The fields docs/STATUS.md documents for `spfs status --json`, read from its table, and a check that an object
// has each of them (nested fields through their parent; `items[]` through every element).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function documentedStatusFields(): string[] {
  const whole = readFileSync(join(__dirname, '..', '..', 'docs', 'STATUS.md'), 'utf8');
  const doc = whole.slice(whole.indexOf('## The JSON schema'), whole.indexOf('## `spfs doctor`'));
  const fields: string[] = [];
  for (const m of doc.matchAll(/^\| `([A-Za-z.[\]]+)` \| [^|]+\|/gm))
    if (m[1] !== undefined) fields.push(m[1]);
  return fields;
}

/** Documented fields missing from `obj` (a field under a null parent counts as present: null means "not applicable"). */
export function missingFields(obj: unknown, fields: readonly string[]): string[] {
  const missing: string[] = [];
  const has = (o: unknown, path: string[]): boolean => {
    if (path.length === 0) return true;
    if (o === null) return true;
    const [head, ...rest] = path as [string, ...string[]];
    if (head.endsWith('[]')) {
      const arr = (o as Record<string, unknown>)[head.slice(0, -2)];
      return Array.isArray(arr) && arr.every((e) => has(e, rest));
    }
    if (typeof o !== 'object' || o === undefined || !(head in o)) return false;
    return has((o as Record<string, unknown>)[head], rest);
  };
  for (const f of fields) if (!has(obj, f.split('.'))) missing.push(f);
  return missing;
}
