// Response helpers shared by every handler: XML/JSON bodies (gzip when asked and worth it), SharePoint error bodies,
// case-insensitive query lookup.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { escapeXml } from './item-xml';

const gzip = promisify(zlib.gzip);

/** Bodies below this are sent as is: gzip would cost more than it saves. */
export const GZIP_MIN_BYTES = 1024;
export const XML_CONTENT_TYPE = 'Application/Web3s+xml';
export const JSON_CONTENT_TYPE = 'application/json;odata=verbose;charset=utf-8';
const ERROR_CONTENT_TYPE = 'application/xml;charset=utf-8';

/** What the request log records about a response beyond its status. */
export interface ResponseStats {
  bytes: number;
}

export async function sendBody(
  req: IncomingMessage,
  res: ServerResponse,
  stats: ResponseStats,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<void> {
  let buf: Buffer = Buffer.from(body, 'utf8');
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', 'private, max-age=0');
  if (buf.length > GZIP_MIN_BYTES && acceptsGzip(req)) {
    buf = await gzip(buf);
    res.setHeader('Content-Encoding', 'gzip');
    res.setHeader('Vary', 'Accept-Encoding');
  }
  res.setHeader('Content-Length', String(buf.length));
  stats.bytes = req.method === 'HEAD' ? 0 : buf.length;
  res.end(req.method === 'HEAD' ? undefined : buf);
}

function acceptsGzip(req: IncomingMessage): boolean {
  const ae = req.headers['accept-encoding'];
  return typeof ae === 'string' && /\bgzip\b/i.test(ae) && !/\bgzip\s*;\s*q=0(\.0*)?\b/i.test(ae);
}

const ERRORS: Record<number, { code: string; message: string }> = {
  400: { code: '-1, Microsoft.SharePoint.Client.InvalidClientQueryException', message: 'Invalid request.' },
  401: { code: '-2147024891, System.UnauthorizedAccessException', message: 'Access denied.' },
  403: {
    code: '-2147024891, System.UnauthorizedAccessException',
    message: 'Access denied. You do not have permission to perform this action or access this resource.',
  },
  404: { code: '-2147024894, System.IO.FileNotFoundException', message: 'File Not Found.' },
  405: {
    code: '-1, Microsoft.SharePoint.Client.InvalidClientQueryException',
    message: 'Method not allowed.',
  },
  409: {
    code: '-2130575257, Microsoft.SharePoint.SPException',
    message: 'An item with the same name already exists.',
  },
  412: {
    code: '-2130575305, Microsoft.SharePoint.SPException',
    message: 'The file has been modified (ETag mismatch).',
  },
  413: { code: '-2147024809, System.ArgumentException', message: 'Request entity too large.' },
  423: { code: '-2147018894, Microsoft.SharePoint.SPFileLockException', message: 'The file is locked.' },
  507: { code: '-2147024784, Microsoft.SharePoint.SPQuotaExceededException', message: 'Quota exceeded.' },
  416: { code: '-1, System.ArgumentOutOfRangeException', message: 'Requested range not satisfiable.' },
  500: { code: '-2146233088, Microsoft.SharePoint.SPException', message: 'Internal server error.' },
};

/** The SharePoint error body of digest §5 with the given status. */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  stats: ResponseStats,
  status: number,
  headers: Record<string, string> = {},
): Promise<void> {
  const e = ERRORS[status] ?? ERRORS[500]!;
  const body =
    '<?xml version="1.0" encoding="utf-8"?>' +
    '<m:error xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">' +
    `<m:code>${escapeXml(e.code)}</m:code><m:message xml:lang="en-US">${escapeXml(e.message)}</m:message></m:error>`;
  return sendBody(req, res, stats, status, ERROR_CONTENT_TYPE, body, headers);
}

/** Query parameters looked up case-insensitively, as SharePoint does. */
export class Query {
  private readonly map = new Map<string, string>();
  constructor(params: URLSearchParams) {
    for (const [k, v] of params) if (!this.map.has(k.toLowerCase())) this.map.set(k.toLowerCase(), v);
  }
  get(name: string): string | undefined {
    return this.map.get(name.toLowerCase());
  }
  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }
  /** A non-negative integer parameter, or `fallback` when absent or malformed. */
  int(name: string, fallback: number): number {
    const v = this.get(name);
    return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : fallback;
  }
  bool(name: string): boolean {
    return (this.get(name) ?? '').toLowerCase() === 'true';
  }
}
