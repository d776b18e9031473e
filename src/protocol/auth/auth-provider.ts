// How a request gets its credentials: a header per request (Basic, Bearer, cookies) or, for connection-bound schemes
// (NTLM), a handshake on a dedicated connection. Providers never expose secrets through logs or error messages.

export interface AuthProvider {
  /** Scheme name for logs and errors (never the secret). */
  readonly scheme: 'none' | 'basic' | 'bearer' | 'cookie' | 'ntlm';
  /** Headers to add to a request (`authorization`, `cookie`); re-read sources (token file) as needed. */
  headers(): Promise<Record<string, string>>;
  /** After a 401: whether fresh credentials are available so one more try makes sense (a rotated token). */
  refresh(): Promise<boolean>;
}

export const noAuth: AuthProvider = {
  scheme: 'none',
  headers: () => Promise.resolve({}),
  refresh: () => Promise.resolve(false),
};

export function basicAuth(user: string, password: string): AuthProvider {
  // Built once; the value lives only in this closure.
  const value = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  return {
    scheme: 'basic',
    headers: () => Promise.resolve({ authorization: value }),
    refresh: () => Promise.resolve(false),
  };
}
