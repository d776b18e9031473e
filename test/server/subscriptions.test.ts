// E11 over real HTTP: create/renew/delete, the long-poll channel (notification on change, bursts coalesced, 204 on
// timeout), X-SubscriptionIdToNotNotify, expiry, 404 for unknown ids, and that other users cannot use a subscription.
import type { RunningServer } from '../../src/server';
import { issueDigest } from '../../src/server/form-digest';
import { Harness, TestClock, USER, basic, sfs } from './server-harness';
import { readPage } from './page-reader';

const BOB = { name: 'bob', password: 'builder' };
const DAY_MS = 24 * 3600 * 1000;

describe('E11 subscriptions and the long-poll channel', () => {
  const h = new Harness();
  const clock = new TestClock();
  let srv: RunningServer;
  let ids: Map<string, string>;
  const digest = (user = USER.name): string => issueDigest(user, clock.now());
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    authorization: basic(),
    'x-requestdigest': digest(),
    ...extra,
  });

  async function subscribe(
    expires = new Date(clock.now() + DAY_MS).toISOString(),
    state = 'st&<1>',
  ): Promise<{
    id: string;
    channel: string;
    status: number;
    body: string;
  }> {
    const res = await fetch(sfs(srv, 'Subscription'), {
      method: 'POST',
      headers: headers({ 'content-type': 'application/web3s+xml' }),
      body: `<Subscription><NotificationUrl>longpoll</NotificationUrl><ExpirationDateTime>${expires}</ExpirationDateTime><ClientState>${state.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</ClientState></Subscription>`,
    });
    const body = await res.text();
    const id = /<SubscriptionId>([0-9a-f]{32})<\/SubscriptionId>/.exec(body)?.[1] ?? '';
    const channel = (/<ChannelUrl>([^<]+)<\/ChannelUrl>/.exec(body)?.[1] ?? '').replace(/&amp;/g, '&');
    return { id, channel, status: res.status, body };
  }

  const poll = (channel: string, timeoutS: number, auth = basic()): Promise<Response> =>
    fetch(`${channel}?timeout=${timeoutS}`, { headers: { authorization: auth } });

  async function deleteItem(name: string, extra: Record<string, string> = {}): Promise<void> {
    const res = await fetch(sfs(srv, `Items/${ids.get(name)}`), {
      method: 'DELETE',
      headers: headers(extra),
    });
    expect(res.status).toBe(204);
  }

  beforeAll(async () => {
    srv = await h.start({
      clock,
      users: [USER, BOB],
      seedDir: await h.seed({ 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c', 'd.txt': 'd', 'e.txt': 'e' }),
    });
    const page = await fetch(sfs(srv, 'RootFolder?Filter=changes'), { headers: { authorization: basic() } });
    ids = new Map(readPage(await page.text()).entries.map((e) => [e.name, e.id]));
  });
  afterAll(() => h.cleanup());

  test('create: 201 with id, capped expiry and a channel URL under the SFS path; a digest is required', async () => {
    const far = new Date(clock.now() + 90 * DAY_MS).toISOString();
    const s = await subscribe(far);
    expect(s.status).toBe(201);
    expect(s.channel).toBe(`${sfs(srv, `Subscription/${s.id}/Channel`)}`);
    const exp = /<ExpirationDateTime>([^<]+)</.exec(s.body)?.[1];
    expect(exp).toBe(new Date(clock.now() + 30 * DAY_MS).toISOString().replace(/Z$/, '0000Z'));
    const noDigest = await fetch(sfs(srv, 'Subscription'), {
      method: 'POST',
      headers: { authorization: basic() },
      body: '<Subscription><NotificationUrl>longpoll</NotificationUrl></Subscription>',
    });
    expect(noDigest.status).toBe(403);
    expect(noDigest.headers.get('x-requestdigest')).toMatch(/^0x/);
  });

  test('a NotificationUrl other than longpoll, a DTD or garbage is 400', async () => {
    for (const body of [
      '<Subscription><NotificationUrl>https://evil.example/</NotificationUrl></Subscription>',
      '<!DOCTYPE x [<!ENTITY a "b">]><Subscription><NotificationUrl>longpoll</NotificationUrl></Subscription>',
      '<Nope/>',
      '<Subscription><NotificationUrl>longpoll</NotificationUrl><ExpirationDateTime>tomorrow</ExpirationDateTime></Subscription>',
    ]) {
      const res = await fetch(sfs(srv, 'Subscription'), { method: 'POST', headers: headers(), body });
      expect([body, res.status]).toEqual([body, 400]);
    }
  });

  test('the channel answers 204 after its timeout when nothing changed', async () => {
    const s = await subscribe();
    const res = await poll(s.channel, 1);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
  });

  test('a waiting channel is answered by a change; a burst of changes is one notification', async () => {
    const s = await subscribe();
    const waiting = poll(s.channel, 30);
    await deleteItem('a.txt');
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('Application/Web3s+xml');
    expect(await res.text()).toBe(
      `<?xml version="1.0" encoding="utf-8"?><Notification><ListId>${srv.listId}</ListId><SubscriptionId>${s.id}</SubscriptionId><ClientState>st&amp;&lt;1&gt;</ClientState></Notification>`,
    );
    await deleteItem('b.txt');
    await deleteItem('c.txt');
    expect((await poll(s.channel, 30)).status).toBe(200); // pending from the burst: answered at once
    expect((await poll(s.channel, 1)).status).toBe(204); // ...and only once
  });

  test('X-SubscriptionIdToNotNotify spares the writer’s own subscription only', async () => {
    const mine = await subscribe();
    const theirs = await subscribe();
    await deleteItem('d.txt', { 'X-SubscriptionIdToNotNotify': mine.id.toUpperCase() });
    expect((await poll(mine.channel, 1)).status).toBe(204);
    expect((await poll(theirs.channel, 1)).status).toBe(200);
  });

  test('renew, delete, expiry and unknown ids; another user cannot see the subscription', async () => {
    const s = await subscribe();
    const renewTo = new Date(clock.now() + 2 * DAY_MS).toISOString();
    const renew = await fetch(sfs(srv, `Subscription/${s.id}`), {
      method: 'POST',
      headers: headers(),
      body: `<Subscription><ExpirationDateTime>${renewTo}</ExpirationDateTime></Subscription>`,
    });
    expect(renew.status).toBe(200);
    expect(await renew.text()).toContain(`<SubscriptionId>${s.id}</SubscriptionId>`);
    // bob has no access to alice's library at all; on his own library the id is unknown.
    expect((await poll(s.channel, 0, basic(BOB.name, BOB.password))).status).toBe(403);
    const bobSfs = `${srv.origin}/personal/bob/_api/SPFileSync/sync/${srv.libraries[1]!.listId}`;
    expect(
      (await poll(`${bobSfs}/Subscription/${s.id}/Channel`, 0, basic(BOB.name, BOB.password))).status,
    ).toBe(404);

    const del = await fetch(sfs(srv, `Subscription/${s.id}`), { method: 'DELETE', headers: headers() });
    expect(del.status).toBe(204);
    expect((await poll(s.channel, 0)).status).toBe(404);
    expect(
      (await fetch(sfs(srv, `Subscription/${s.id}`), { method: 'DELETE', headers: headers() })).status,
    ).toBe(404);
    expect((await poll(sfs(srv, `Subscription/${'0'.repeat(32)}/Channel`), 0)).status).toBe(404);

    const short = await subscribe(new Date(clock.now() + 60_000).toISOString());
    expect((await poll(short.channel, 0)).status).toBe(204);
    clock.ms += 61_000; // past its expiry: dropped
    expect((await poll(short.channel, 0)).status).toBe(404);
    const renewGone = await fetch(sfs(srv, `Subscription/${short.id}`), {
      method: 'POST',
      headers: headers(),
      body: '<Subscription><ExpirationDateTime>2099-01-01T00:00:00.0000000Z</ExpirationDateTime></Subscription>',
    });
    expect(renewGone.status).toBe(404);
  });
});
