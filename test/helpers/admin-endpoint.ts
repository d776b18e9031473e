// The reference server's admin endpoint in end-to-end tests: one env var and one token per test file (jest loads
// this module once per file), the flags that turn the endpoint on, and a POST helper.

/** The variable test servers read their admin token from (`--admin-token-env`). */
export const ADMIN_ENV = 'SPFS_TEST_ADMIN_TOKEN';
/** This test file's admin token; put it in process.env[ADMIN_ENV] before starting a server with ADMIN_ARGS. */
export const ADMIN_TOKEN = `admin-${Math.random().toString(36).slice(2)}-token`;
/** `spfs serve` flags that enable the admin endpoint with the token from ADMIN_ENV. */
export const ADMIN_ARGS: readonly string[] = ['--admin', '--admin-token-env', ADMIN_ENV];

/** POSTs to the reference server's admin endpoint (`spfs serve --admin`) with its bearer token. */
export async function adminPost(port: string, token: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}/_spfs/admin${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`admin ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as unknown;
}
