// Response header access shared by the codecs and the client: case-insensitive lookup over undici's header map.

export type HeaderMap = Record<string, string | string[] | undefined>;

/** The first value of a header (names compared case-insensitively), or undefined. */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== want || v === undefined) continue;
    return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
}
