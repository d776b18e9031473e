// Authentication over real HTTP: Basic, Bearer tokens, and connection-bound NTLM (type 1 → challenge → type 3 on one
// keep-alive socket; a new connection starts over; failures never authenticate; secrets never reach the log).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { RunningServer } from '../../src/server';
import {
  createAuthenticateMessage,
  createNegotiateMessage,
  parseChallengeMessage,
} from '../../src/shared/ntlm/ntlm-messages';
import { Harness, basic } from './server-harness';

const ALICE = { name: 'alice', password: 'wonderland', tokens: ['alice-token-0123456789abcdef'] };
const BOB = { name: 'bob', password: 'builder' };

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  socketPort: number;
}

function request(agent: http.Agent, url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          socketPort: req.socket?.localPort ?? 0,
        }),
      );
    });
    req.on('error', reject);
  });
}

/** Type 1 and type 3 on the agent's single socket; returns the type 3 reply. */
async function ntlmHandshake(
  agent: http.Agent,
  url: string,
  user: string,
  password: string,
  scheme = 'NTLM',
): Promise<{ challenge: Reply; final: Reply }> {
  const challenge = await request(agent, url, {
    authorization: `${scheme} ${createNegotiateMessage().toString('base64')}`,
  });
  const header = String(challenge.headers['www-authenticate'] ?? '');
  const t2 = parseChallengeMessage(Buffer.from(header.replace(/^\S+\s+/, ''), 'base64'));
  const t3 = await createAuthenticateMessage({ challenge: t2, user, domain: t2.targetName, password });
  const final = await request(agent, url, { authorization: `${scheme} ${t3.toString('base64')}` });
  return { challenge, final };
}

describe('authentication', () => {
  const h = new Harness();
  let srv: RunningServer;
  let logFile: string;
  let policy: string;
  const agents: http.Agent[] = [];
  const agent = (): http.Agent => {
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(a);
    return a;
  };

  beforeAll(async () => {
    logFile = path.join(await h.tempDir(), 'requests.jsonl');
    srv = await h.start({ users: [ALICE, BOB], requestLogFile: logFile });
    policy = `${srv.siteUrl}/_api/SPFileSync/sync/${srv.listId}/policy/`;
  });
  afterAll(async () => {
    for (const a of agents) a.destroy();
    await h.cleanup();
  });

  test('a 401 offers Negotiate, NTLM, Basic and Bearer, with the SharePoint error body', async () => {
    const res = await request(agent(), policy);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Negotiate, NTLM, Basic realm="spfs", Bearer realm="spfs"');
    expect(res.body).toContain('System.UnauthorizedAccessException');
  });

  test('Basic and Bearer: right credentials pass, wrong ones and unknown tokens are 401', async () => {
    const a = agent();
    expect((await request(a, policy, { authorization: basic(ALICE.name, ALICE.password) })).status).toBe(200);
    expect((await request(a, policy, { authorization: basic(ALICE.name, 'nope') })).status).toBe(401);
    expect((await request(a, policy, { authorization: `Bearer ${ALICE.tokens[0]}` })).status).toBe(200);
    expect((await request(a, policy, { authorization: 'Bearer alice-token-0123456789abcdeX' })).status).toBe(
      401,
    );
    expect((await request(a, policy, { authorization: 'Bearer ' })).status).toBe(401);
  });

  test('NTLM: the full handshake on one socket authenticates that connection, and only it', async () => {
    const a = agent();
    const { challenge, final } = await ntlmHandshake(a, policy, 'ALICE', ALICE.password);
    expect(challenge.status).toBe(401);
    expect(String(challenge.headers['www-authenticate'])).toMatch(/^NTLM [A-Za-z0-9+/=]+$/);
    expect(final.status).toBe(200);
    expect(final.body).toContain('<PolicyDocument');
    // The same connection stays authenticated without any header (IIS connection-based auth)...
    const again = await request(a, policy);
    expect(again.status).toBe(200);
    expect(again.socketPort).toBe(final.socketPort);
    // ...and as alice only: bob's library stays out of reach.
    expect((await request(a, `${srv.origin}/personal/bob/_api/Site/Id`)).status).toBe(403);
    // A new connection must authenticate again.
    const other = await request(agent(), policy);
    expect(other.status).toBe(401);
    expect(other.socketPort).not.toBe(final.socketPort);
  });

  test('NTLM inside Negotiate (raw NTLMSSP) works the same way', async () => {
    const { challenge, final } = await ntlmHandshake(agent(), policy, 'bob', BOB.password, 'Negotiate');
    expect(String(challenge.headers['www-authenticate'])).toMatch(/^Negotiate /);
    expect(final.status).toBe(403); // bob is authenticated, and alice's library is not his
    const bobSite = await ntlmHandshake(
      agent(),
      `${srv.origin}/personal/bob/_api/Site/Id`,
      'bob',
      BOB.password,
      'Negotiate',
    );
    expect(bobSite.final.status).toBe(200);
  });

  test('NTLM failures: a wrong password, an unknown user, or a type 3 without a challenge never authenticate', async () => {
    const a = agent();
    const wrong = await ntlmHandshake(a, policy, 'alice', 'wrong password');
    expect(wrong.final.status).toBe(401);
    expect(wrong.final.headers['www-authenticate']).toContain('NTLM');
    expect((await request(a, policy)).status).toBe(401);
    expect((await ntlmHandshake(agent(), policy, 'mallory', 'x')).final.status).toBe(401);
    // A type 3 computed for one connection's challenge, replayed on another connection, fails.
    const b = agent();
    const c = await request(b, policy, {
      authorization: `NTLM ${createNegotiateMessage().toString('base64')}`,
    });
    const t2 = parseChallengeMessage(Buffer.from(String(c.headers['www-authenticate']).slice(5), 'base64'));
    const t3 = await createAuthenticateMessage({
      challenge: t2,
      user: 'alice',
      domain: 'SPFS',
      password: ALICE.password,
    });
    expect((await request(agent(), policy, { authorization: `NTLM ${t3.toString('base64')}` })).status).toBe(
      401,
    );
    // Garbage in the NTLM header is a plain 401.
    expect((await request(agent(), policy, { authorization: 'NTLM TlRMTVNTUAADAAAA' })).status).toBe(401);
  });

  test('other credentials on an NTLM connection end its NTLM identity (never shared across users)', async () => {
    const a = agent();
    expect((await ntlmHandshake(a, policy, 'alice', ALICE.password)).final.status).toBe(200);
    expect((await request(a, policy, { authorization: basic(BOB.name, BOB.password) })).status).toBe(403);
    expect((await request(a, policy)).status).toBe(401);
  });

  test('the request log names users but never holds a password, token or NTLM message', async () => {
    await request(agent(), policy, { authorization: basic(ALICE.name, ALICE.password) });
    await request(agent(), policy, { authorization: `Bearer ${ALICE.tokens[0]}` });
    await new Promise((r) => setTimeout(r, 50));
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log).toContain('"user":"alice"');
    for (const secret of [ALICE.password, BOB.password, ALICE.tokens[0]!, 'TlRMTVNT'])
      expect(log).not.toContain(secret);
  });
});
