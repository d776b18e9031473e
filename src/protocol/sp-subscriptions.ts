// E11 subscriptions (wire contract): create, renew, delete, and the long-poll channel. Our current subscription id is
// remembered so that writes can carry X-SubscriptionIdToNotNotify and not wake ourselves.
import { NotFoundError, SubscriptionGoneError } from './errors';
import type { SpRequest, SpSession } from './sp-session';
import { XML_ACCEPT } from './sp-session';
import type { Subscription } from './types';
import {
  decodeNotification,
  decodeSubscription,
  encodeRenewal,
  encodeSubscription,
} from './xml/subscription';

/** Default lifetime asked for; the server caps it (30 days). */
export const DEFAULT_SUBSCRIPTION_LIFETIME_S = 3 * 24 * 3600;
/** The channel's server-side cap on one long poll. */
export const MAX_LONG_POLL_S = 300;
/** Extra time a long poll gets beyond the server's own timeout before we call the connection dead. */
const LONG_POLL_GRACE_MS = 30_000;

export class SpSubscriptions {
  private current: Subscription | undefined;

  constructor(
    private readonly session: SpSession,
    private readonly sfs: string,
  ) {}

  get currentId(): string | undefined {
    return this.current?.id;
  }

  async subscribe(clientState?: string, lifetimeS = DEFAULT_SUBSCRIPTION_LIFETIME_S): Promise<Subscription> {
    const expires = new Date(this.session.deps.clock.now() + lifetimeS * 1000);
    const res = await this.session.text({
      ...this.base('subscribe', `${this.sfs}/Subscription`),
      method: 'POST',
      body: encodeSubscription(expires, clientState),
    });
    this.current = decodeSubscription(res.text, this.session.siteUrl);
    return this.current;
  }

  async renew(id: string, lifetimeS = DEFAULT_SUBSCRIPTION_LIFETIME_S): Promise<Subscription> {
    const expires = new Date(this.session.deps.clock.now() + lifetimeS * 1000);
    const res = await this.gone(() =>
      this.session.text({
        ...this.base('renew subscription', `${this.sfs}/Subscription/${encodeURIComponent(id)}`),
        method: 'POST',
        idempotent: true,
        body: encodeRenewal(expires),
      }),
    );
    const previous = this.current?.id === id ? this.current.channelUrl : undefined;
    this.current = decodeSubscription(res.text, this.session.siteUrl, previous);
    return this.current;
  }

  async unsubscribe(id: string): Promise<void> {
    try {
      await this.session.text({
        ...this.base('unsubscribe', `${this.sfs}/Subscription/${encodeURIComponent(id)}`),
        method: 'DELETE',
        idempotent: true,
      });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err; // already gone: the goal is reached
    }
    if (this.current?.id === id) this.current = undefined;
  }

  /** One long poll: 'changed' on a notification (200), 'timeout' on 204; SubscriptionGoneError on 404. */
  async waitForNotification(
    channel: URL,
    timeoutS: number,
    signal?: AbortSignal,
  ): Promise<'changed' | 'timeout'> {
    const t = Math.max(1, Math.min(MAX_LONG_POLL_S, Math.round(timeoutS)));
    const url = new URL(channel);
    url.searchParams.set('timeout', String(t));
    const own = AbortSignal.timeout(t * 1000 + LONG_POLL_GRACE_MS);
    const res = await this.gone(() =>
      this.session.text({
        method: 'GET',
        url,
        accept: XML_ACCEPT,
        what: 'notification channel',
        priority: 'background',
        timeoutMs: t * 1000 + LONG_POLL_GRACE_MS,
        signal: signal ? AbortSignal.any([signal, own]) : own,
      }),
    );
    if (res.status === 204 || res.text.trim() === '') return 'timeout';
    decodeNotification(res.text); // validates the shape; it carries no change data
    return 'changed';
  }

  private base(what: string, url: string): Omit<SpRequest, 'method'> {
    return {
      url: new URL(url),
      accept: XML_ACCEPT,
      what,
      digest: true,
      headers: { 'content-type': 'application/web3s+xml' },
    };
  }

  private async gone<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new SubscriptionGoneError({ status: err.status, method: err.method, url: err.url });
      }
      throw err;
    }
  }
}
