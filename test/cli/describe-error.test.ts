// Connection-time failures in words a person can act on: a certificate that cannot be verified says why and what
// to do, instead of OpenSSL's code alone.
import { describeConnectError } from '../../src/cli/describe-error';
import { isRetryable, NetworkError } from '../../src/protocol/errors';

const URL = 'https://sp.example/personal/alice';
const tlsFailure = (code: string): NetworkError =>
  new NetworkError('connect failed', 'unreachable', { cause: Object.assign(new Error('tls'), { code }) });

it.each([
  ['DEPTH_ZERO_SELF_SIGNED_CERT', 'it is self-signed'],
  ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'its issuer is not trusted'],
  ['CERT_HAS_EXPIRED', 'it has expired'],
  ['ERR_TLS_CERT_ALTNAME_INVALID', 'it was issued for another host name'],
])('%s names the certificate problem and the way out (--ca)', (code, words) => {
  const d = describeConnectError(tlsFailure(code), URL);
  expect(d?.message).toBe(
    `the TLS certificate of ${URL} cannot be verified: ${words} (${code}); give the CA that signed it with ` +
      '--ca FILE (or, only for testing, --insecure to skip verification)',
  );
  expect(d?.exitCode).toBe(3);
});

it('any other network failure stays "cannot reach"', () => {
  const d = describeConnectError(tlsFailure('ECONNREFUSED'), URL);
  expect(d?.message).toBe(`cannot reach ${URL}: ECONNREFUSED`);
});

it('a certificate failure is not retried (the same certificate fails again); a reset still is', () => {
  expect(isRetryable(tlsFailure('DEPTH_ZERO_SELF_SIGNED_CERT'))).toBe(false);
  expect(isRetryable(tlsFailure('ECONNRESET'))).toBe(true);
});
