// The X-RequestDigest cache (wire contract E13): one digest per client (a client is one user), fetched from
// contextinfo when missing or about to expire, replaced by the fresh one a 403 carries.
import type { Clock } from '../shared/clock';

/** Refresh this long before the server's expiry, so a digest never dies in flight. */
export const DIGEST_EXPIRY_MARGIN_MS = 60_000;
/** Lifetime assumed for a digest that arrived in a 403 header (SharePoint's default is 30 min). */
export const DEFAULT_DIGEST_LIFETIME_MS = 30 * 60_000;

export class FormDigestCache {
  private value: string | undefined;
  private expiresAt = 0;
  private inflight: Promise<string> | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly fetchDigest: () => Promise<{ digest: string; timeoutSeconds: number }>,
  ) {}

  /** The cached digest, or a fresh one (concurrent callers share one contextinfo request). */
  async get(): Promise<string> {
    if (this.value !== undefined && this.clock.now() < this.expiresAt) return this.value;
    this.inflight ??= this.fetchDigest()
      .then(({ digest, timeoutSeconds }) => {
        this.set(digest, timeoutSeconds * 1000);
        return digest;
      })
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  set(digest: string, lifetimeMs = DEFAULT_DIGEST_LIFETIME_MS): void {
    this.value = digest;
    this.expiresAt = this.clock.now() + Math.max(0, lifetimeMs - DIGEST_EXPIRY_MARGIN_MS);
  }

  invalidate(): void {
    this.value = undefined;
  }
}
