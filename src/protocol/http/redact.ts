// URLs as they may appear in errors and logs: origin and path only; the query (tokens, ids) and any userinfo elided.

export function redactUrl(url: URL | string): string {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return '<invalid url>';
  }
  return `${u.origin}${u.pathname}${u.search ? '?…' : ''}`;
}
