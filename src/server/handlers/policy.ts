// E4: the client policy document (digest §3.6): a flat list of name/value rules.
import type { Exchange, ServerContext } from '../context';
import { dataPlane } from '../data-plane-settings';
import { XML_CONTENT_TYPE, sendBody } from '../http-util';
import { XML_DECLARATION, escapeXml } from '../item-xml';

export function policy(ctx: ServerContext, ex: Exchange): Promise<void> {
  const rules: [string, string][] = [
    [
      'DownloadUrlTemplate',
      `${ex.siteUrl}/_layouts/15/download.aspx?UniqueId={ResourceID}&UserAgent=SkySync`,
    ],
    ['ItemCount', String(ctx.itemCount)],
    ['InlineUploadThreshold', String(ctx.inlineUploadThresholdBytes)],
    ['PollingIntervalSeconds', String(ctx.pollingIntervalSeconds)],
    ['MaxFileSize', String(ctx.maxFileSizeBytes)],
    ['SyncEnabled', 'true'],
    ['MaxPathLength', '400'],
    ['FilesOnDemandAllowed', 'true'],
    ['BlockedFileExtensions', dataPlane(ctx).blockedFileExtensions.join(';')],
    ['AllowedDomainGuids', ''],
  ];
  const body =
    XML_DECLARATION +
    '<PolicyDocument>' +
    rules.map(([n, v]) => `<Rule name="${escapeXml(n)}" value="${escapeXml(v)}"/>`).join('') +
    '</PolicyDocument>';
  return sendBody(ex.req, ex.res, ex.stats, 200, XML_CONTENT_TYPE, body);
}
