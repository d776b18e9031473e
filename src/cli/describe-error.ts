// Turns connection-time failures into one line a person can act on, plus an exit code.
import { certificateFailure, PROTOCOL_ERROR_CODES as P } from '../protocol/errors';
import { SpfsError } from '../shared/errors';
import { EXIT } from './usage-error';

export function describeConnectError(
  err: unknown,
  url: string,
): { message: string; exitCode: number } | undefined {
  if (!(err instanceof SpfsError)) return undefined;
  switch (err.code) {
    case P.network: {
      const tls = certificateProblem(err);
      if (tls !== undefined)
        return {
          message:
            `the TLS certificate of ${url} cannot be verified: ${tls}; give the CA that signed it with --ca FILE ` +
            '(or, only for testing, --insecure to skip verification)',
          exitCode: EXIT.unreachable,
        };
      return { message: `cannot reach ${url}: ${causeText(err)}`, exitCode: EXIT.unreachable };
    }
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

/** What each certificate failure (protocol/errors.ts) means, in words. */
const CERTIFICATE_PROBLEMS: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'a self-signed certificate is in its chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its issuer is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'its issuer is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its issuer is not trusted',
  CERT_UNTRUSTED: 'it is not trusted',
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet',
  CERT_SIGNATURE_FAILURE: 'its signature does not verify',
  CERT_REVOKED: 'it was revoked',
  ERR_TLS_CERT_ALTNAME_INVALID: 'it was issued for another host name',
};

/** The certificate problem behind a connection failure, as `<words> (<code>)`, or undefined for any other cause. */
function certificateProblem(err: Error): string | undefined {
  const code = certificateFailure(err);
  return code === undefined ? undefined : `${CERTIFICATE_PROBLEMS[code] ?? 'it is not trusted'} (${code})`;
}
