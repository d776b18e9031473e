// E13: `POST {site}/_api/contextinfo` → the form digest a writer sends back in X-RequestDigest (wire contract).
import type { Exchange, ServerContext } from '../context';
import { FORM_DIGEST_TIMEOUT_SECONDS, issueDigest } from '../form-digest';
import { JSON_CONTENT_TYPE, sendBody } from '../http-util';

export function contextInfo(ctx: ServerContext, ex: Exchange): Promise<void> {
  ex.req.resume(); // the body is empty by contract; whatever was sent is discarded
  const body = {
    d: {
      GetContextWebInformation: {
        FormDigestValue: issueDigest(ex.user, ctx.clock.now()),
        FormDigestTimeoutSeconds: FORM_DIGEST_TIMEOUT_SECONDS,
        WebFullUrl: ex.siteUrl,
        LibraryVersion: '16.0.0.0',
        SiteFullUrl: ex.siteUrl,
      },
    },
  };
  return sendBody(ex.req, ex.res, ex.stats, 200, JSON_CONTENT_TYPE, JSON.stringify(body));
}
