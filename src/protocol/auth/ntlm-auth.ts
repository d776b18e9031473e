// Client side of connection-bound NTLM (SharePoint 2019 on IIS): each connection is one undici Client, owned by one
// request at a time; an unauthenticated connection runs type 1 → 401 type 2 → type 3 with the real request, and
// then stays authenticated for its keep-alive life. One NtlmAuth serves one user: connections are never shared.
import { Client, type Dispatcher } from 'undici';
import {
  parseChallengeMessage,
  createAuthenticateMessage,
  createNegotiateMessage,
  ntlmFromAuthorization,
} from '../../shared/ntlm/ntlm-messages';
import type { ConnectionAuth } from '../http/transport';
import { KEEP_ALIVE_TIMEOUT_MS } from '../http/transport';

export interface NtlmCredentials {
  /** `user`, `DOMAIN\user` or `user@domain`. */
  user: string;
  password: string;
  workstation?: string;
}

export interface NtlmOptions {
  /** Connections per origin. */
  connections: number;
  connect?: Record<string, unknown>;
}

interface Conn {
  client: Client;
  authenticated: boolean;
  busy: boolean;
}

export function splitNtlmUser(raw: string): { user: string; domain: string } {
  const slash = raw.indexOf('\\');
  if (slash > 0) return { domain: raw.slice(0, slash), user: raw.slice(slash + 1) };
  const at = raw.lastIndexOf('@');
  if (at > 0) return { user: raw.slice(0, at), domain: raw.slice(at + 1) };
  return { user: raw, domain: '' };
}

export class NtlmAuth implements ConnectionAuth {
  readonly scheme = 'ntlm' as const;
  private readonly pools = new Map<string, Conn[]>();
  private readonly waiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly creds: NtlmCredentials,
    private readonly opts: NtlmOptions,
  ) {}

  async request(
    opts: Dispatcher.RequestOptions,
    makeBody: () => NonNullable<Dispatcher.RequestOptions['body']> | null,
  ): Promise<Dispatcher.ResponseData> {
    const conn = await this.take(String(opts.origin));
    let handedOver = false;
    try {
      let res: Dispatcher.ResponseData;
      if (conn.authenticated) {
        res = await conn.client.request({ ...opts, body: makeBody() });
        if (res.statusCode === 401) {
          // The server forgot this connection (or it was replaced under us): one fresh handshake.
          conn.authenticated = false;
          await res.body.dump();
          res = await this.handshake(conn, opts, makeBody);
        }
      } else {
        res = await this.handshake(conn, opts, makeBody);
      }
      res.body.once('close', () => this.release(conn));
      handedOver = true;
      return res;
    } finally {
      if (!handedOver) this.release(conn);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()].flat();
    this.pools.clear();
    await Promise.all(all.map((c) => c.client.close().catch(() => undefined)));
  }

  private async handshake(
    conn: Conn,
    opts: Dispatcher.RequestOptions,
    makeBody: () => NonNullable<Dispatcher.RequestOptions['body']> | null,
  ): Promise<Dispatcher.ResponseData> {
    const headers = { ...(opts.headers as Record<string, string>) };
    delete headers['content-length'];
    const first = await conn.client.request({
      ...opts,
      headers: {
        ...headers,
        authorization: `NTLM ${createNegotiateMessage().toString('base64')}`,
        'content-length': '0',
      },
      body: null,
    });
    const offer = this.challengeFrom(first.headers);
    if (first.statusCode !== 401 || offer === undefined) {
      // No NTLM challenge: either no auth needed (send the real request plainly) or a final refusal.
      await first.body.dump();
      if (first.statusCode === 401) return conn.client.request({ ...opts, body: makeBody() });
      conn.authenticated = true;
      return conn.client.request({ ...opts, body: makeBody() });
    }
    await first.body.dump();
    const { user, domain } = splitNtlmUser(this.creds.user);
    const type3 = await createAuthenticateMessage({
      challenge: parseChallengeMessage(offer),
      user,
      domain,
      password: this.creds.password,
      workstation: this.creds.workstation ?? '',
    });
    const res = await conn.client.request({
      ...opts,
      headers: {
        ...(opts.headers as Record<string, string>),
        authorization: `NTLM ${type3.toString('base64')}`,
      },
      body: makeBody(),
    });
    conn.authenticated = res.statusCode !== 401;
    return res;
  }

  private challengeFrom(headers: Dispatcher.ResponseData['headers']): Buffer | undefined {
    const raw = headers['www-authenticate'];
    const offers = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
    for (const o of offers.flatMap((v) => v.split(','))) {
      const parsed = ntlmFromAuthorization(o.trim());
      if (parsed !== undefined) return parsed.message;
    }
    return undefined;
  }

  private async take(origin: string): Promise<Conn> {
    for (;;) {
      if (this.closed) throw new Error('NTLM transport closed');
      let pool = this.pools.get(origin);
      if (pool === undefined) this.pools.set(origin, (pool = []));
      const free = pool.find((c) => !c.busy && c.authenticated) ?? pool.find((c) => !c.busy);
      if (free) {
        free.busy = true;
        return free;
      }
      if (pool.length < this.opts.connections) {
        const conn: Conn = {
          client: new Client(origin, {
            pipelining: 1,
            keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
            connect: this.opts.connect ?? {},
          }),
          authenticated: false,
          busy: true,
        };
        // A new TCP connection starts unauthenticated, whatever the old one was.
        conn.client.on('disconnect', () => (conn.authenticated = false));
        pool.push(conn);
        return conn;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(conn: Conn): void {
    conn.busy = false;
    this.waiters.shift()?.();
  }
}
