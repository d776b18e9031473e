// The protocol client's view of the mount's online state, which it does not own: every failed request attempt is
// reported to it (it decides what means "unreachable"), and retry loops ask it before repeating a request, so a
// server that is known to be gone costs one attempt, not a backoff schedule. sync's Connectivity implements it.

export interface Reachability {
  /** false while the server is known to be unreachable. */
  readonly online: boolean;
  /** A request attempt failed (any error; a caller's abort never gets here). */
  reportFailure(err: unknown): unknown;
}

/** Always online, hears nothing: a client without a mount (discovery, tests, `spfs serve` tools). */
export const alwaysReachable: Reachability = {
  online: true,
  reportFailure: () => false,
};
