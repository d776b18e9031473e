// Retry policy and error typing of SpClient, with faults produced by a node:http stand-in (the reference server
// can't be told to throttle or reset) and a fake clock, so no test sleeps for real.
import type { ServerResponse } from 'node:http';
import {
  AuthError,
  HttpStatusError,
  NetworkError,
  NotFoundError,
  PROTOCOL_ERROR_CODES,
  ProtocolError,
  ThrottledError,
} from '../../src/protocol/errors';
import { MAX_ATTEMPTS, MAX_RETRY_AFTER_MS } from '../../src/protocol/http/retry';
import { SpClient } from '../../src/protocol/sp-client';
import { capturingLogger } from '../helpers/temp-dirs';
import { fakeClock } from './fake-clock';
import { fixtureFor, startFakeSpServer, type FakeHandler, type FakeSpServer } from './fake-sp-server';

const PASSWORD = 'hunter2-very-secret';

let servers: FakeSpServer[] = [];
let clients: SpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.close()));
  clients = [];
  servers = [];
});

async function setup(handler: FakeHandler, requestTimeoutMs?: number) {
  const server = await startFakeSpServer(handler);
  servers.push(server);
  const clock = fakeClock();
  const client = await SpClient.connect({
    url: server.siteUrl,
    credentials: { user: 'alice', password: PASSWORD },
    clock,
    random: () => 0.5,
    ...(requestTimeoutMs ? { requestTimeoutMs } : {}),
  });
  clients.push(client);
  return { server, client, clock };
}

/** Answers the first `failures` requests with `fail`, then the policy fixture. */
function failThenPolicy(failures: number, fail: (res: ServerResponse) => void): FakeHandler {
  let n = 0;
  return (_req, res) => {
    if (n++ < failures) return fail(res);
    res.writeHead(200).end(fixtureFor('policy.xml', ''));
  };
}

function expectNoSecret(err: unknown): void {
  const e = err as Error;
  const text = `${e.message}\n${e.stack ?? ''}\n${JSON.stringify(e)}\n${e.cause instanceof Error ? e.cause.message : ''}`;
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(Buffer.from(`alice:${PASSWORD}`).toString('base64'));
}

describe('SpClient retry policy', () => {
  test('429 with Retry-After waits exactly that long, then succeeds (simulated fault)', async () => {
    const { server, client, clock } = await setup(
      failThenPolicy(1, (res) => res.writeHead(429, { 'Retry-After': '7' }).end()),
    );
    expect((await client.policy()).itemCount).toBe(500);
    expect(server.requests).toHaveLength(2);
    expect(clock.sleeps).toEqual([7000]);
  });

  test('Retry-After is capped at 60 s (simulated fault)', async () => {
    const { client, clock } = await setup(
      failThenPolicy(1, (res) => res.writeHead(503, { 'Retry-After': '3600' }).end()),
    );
    await client.policy();
    expect(clock.sleeps).toEqual([MAX_RETRY_AFTER_MS]);
  });

  test('503 without Retry-After, then success: exponential backoff (simulated fault)', async () => {
    const { server, client, clock } = await setup(failThenPolicy(2, (res) => res.writeHead(503).end()));
    await client.policy();
    expect(server.requests).toHaveLength(3);
    expect(clock.sleeps).toHaveLength(2);
    expect(clock.sleeps[1]!).toBeGreaterThan(clock.sleeps[0]!);
  });

  test('persistent throttling gives up after MAX_ATTEMPTS with ThrottledError (simulated fault)', async () => {
    const { server, client } = await setup((_req, res) => res.writeHead(429, { 'Retry-After': '1' }).end());
    const err = await client.policy().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ThrottledError);
    expect(err).toMatchObject({
      code: PROTOCOL_ERROR_CODES.throttled,
      status: 429,
      retryAfterMs: 1000,
      retryable: true,
    });
    expect(server.requests).toHaveLength(MAX_ATTEMPTS);
  });

  test('500 is retried; 404 and 501 are not (simulated fault)', async () => {
    const a = await setup(failThenPolicy(1, (res) => res.writeHead(500).end('boom')));
    await a.client.policy();
    expect(a.server.requests).toHaveLength(2);

    const b = await setup((_req, res) => res.writeHead(404).end());
    await expect(b.client.policy()).rejects.toBeInstanceOf(NotFoundError);
    expect(b.server.requests).toHaveLength(1);

    const c = await setup((_req, res) => res.writeHead(501).end());
    const err = await c.client.policy().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpStatusError);
    expect(err).toMatchObject({ status: 501, retryable: false, code: PROTOCOL_ERROR_CODES.httpStatus });
    expect(c.server.requests).toHaveLength(1);
  });

  test('a connection reset is retried as a NetworkError (simulated fault)', async () => {
    const { server, client } = await setup(failThenPolicy(1, (res) => res.socket?.destroy()));
    expect((await client.policy()).itemCount).toBe(500);
    expect(server.requests).toHaveLength(2);
  });

  test('a server that never answers times out as NetworkError kind timeout (simulated fault)', async () => {
    const { server, client } = await setup(() => undefined, 300);
    const err = await client.policy().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).kind).toBe('timeout');
    expect(server.requests).toHaveLength(MAX_ATTEMPTS);
  });
});

describe('SpClient error typing', () => {
  test('401 → AuthError, never retried, and no credential in the error (simulated fault)', async () => {
    const { server, client } = await setup((_req, res) =>
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' }).end('denied'),
    );
    const err = await client.rootFolder().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({
      code: PROTOCOL_ERROR_CODES.auth,
      status: 401,
      retryable: false,
      method: 'GET',
    });
    expect(server.requests).toHaveLength(1);
    expectNoSecret(err);
  });

  test('debug logs of a failing request carry no credential (simulated fault)', async () => {
    const server = await startFakeSpServer((_req, res) => res.writeHead(401).end());
    servers.push(server);
    const { logger, lines } = capturingLogger();
    const client = await SpClient.connect({
      url: server.siteUrl,
      credentials: { user: 'alice', password: PASSWORD },
      logger,
    });
    clients.push(client);
    const err = await client.policy().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(lines.length).toBeGreaterThan(0);
    expectNoSecret(new Error(JSON.stringify(lines)));
  });

  test('error URLs drop the query string', async () => {
    const { client } = await setup((_req, res) => res.writeHead(404).end());
    const err = (await client
      .changes({ token: 'secret-token', maxItemCount: 5 })
      .catch((e: unknown) => e)) as NotFoundError;
    expect(err.url).toMatch(/\/RootFolder\?…$/);
    expect(err.message).not.toContain('secret-token');
  });

  test('malformed XML from the server → ProtocolError, not retried (simulated fault)', async () => {
    const { server, client } = await setup((_req, res) => res.writeHead(200).end('<Folder><ResourceID>'));
    await expect(client.rootFolder()).rejects.toBeInstanceOf(ProtocolError);
    expect(server.requests).toHaveLength(1);
  });

  test('a 200 change page without X-SyncStatus → ProtocolError naming it (simulated fault)', async () => {
    const { client } = await setup((_req, res) =>
      res.writeHead(200).end(fixtureFor('changes-nochanges.xml', '')),
    );
    await expect(client.changes({ maxItemCount: 5 })).rejects.toThrow(/X-SyncStatus/);
  });

  test('a body cut mid-download surfaces as NetworkError while iterating (simulated fault)', async () => {
    const { server, client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write(Buffer.alloc(10));
      setImmediate(() => res.socket?.destroy());
    });
    const dl = await client.download(`${server.siteUrl}/f`);
    const read = async (): Promise<void> => {
      for await (const chunk of dl.body) void chunk;
    };
    await expect(read()).rejects.toBeInstanceOf(NetworkError);
  });

  test('abort() ends the body quietly', async () => {
    const { server, client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write(Buffer.alloc(10));
    });
    const dl = await client.download(`${server.siteUrl}/f`);
    let bytes = 0;
    for await (const chunk of dl.body) {
      bytes += chunk.length;
      dl.abort();
    }
    expect(bytes).toBe(10);
  });
});
