// Turns connection-time failures into one line a person can act on, plus an exit code.
import { PROTOCOL_ERROR_CODES as P } from '../protocol/errors';
import { SpfsError } from '../shared/errors';
import { EXIT } from './usage-error';

export function describeConnectError(
  err: unknown,
  url: string,
): { message: string; exitCode: number } | undefined {
  if (!(err instanceof SpfsError)) return undefined;
  switch (err.code) {
    case P.network:
      return { message: `cannot reach ${url}: ${causeText(err)}`, exitCode: EXIT.unreachable };
    case P.auth:
      return {
        message: `the server at ${url} refused the credentials (HTTP 401/403): check --user and the password`,
        exitCode: EXIT.auth,
      };
    case P.notFound:
      return { message: `no SharePoint library found at ${url} (HTTP 404)`, exitCode: EXIT.failure };
    case P.protocol:
      return {
        message: `the server at ${url} sent a response spfs cannot use: ${err.message}`,
        exitCode: EXIT.failure,
      };
    default:
      return undefined;
  }
}

function causeText(err: Error): string {
  const cause = err.cause as (Error & { code?: string }) | undefined;
  return cause?.code ?? cause?.message ?? err.message;
}
