// Hand-built write requests for server tests (not the client's codec): form digest, multipart/related E8 bodies,
// BITS packets, all over real HTTP with Basic auth.
import { randomUUID } from 'node:crypto';
import type { RunningServer } from '../../src/server';
import { basic, sfs } from './server-harness';

export async function digestFor(srv: RunningServer, auth = basic()): Promise<string> {
  const res = await fetch(`${srv.siteUrl}/_api/contextinfo`, {
    method: 'POST',
    headers: { authorization: auth, accept: 'application/json;odata=verbose' },
  });
  const json = (await res.json()) as { d: { GetContextWebInformation: { FormDigestValue: string } } };
  return json.d.GetContextWebInformation.FormDigestValue;
}

/** One binary part: its FragmentSessionId and bytes. */
export interface BinaryPart {
  id: string;
  bytes: Buffer | string;
}

export function multipartBody(xml: string, parts: BinaryPart[] = [], boundary = `uuid:${randomUUID()}`) {
  const chunks: Buffer[] = [
    Buffer.from(
      `--${boundary}\r\nContent-ID: <LiveFolders>\r\nContent-Type: application/web3s+xml\r\n\r\n` +
        `<?xml version="1.0" encoding="utf-8"?>${xml}\r\n`,
    ),
  ];
  for (const p of parts) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Transfer-Encoding: binary\r\nContent-Type: application/octet-stream\r\n` +
          `Content-ID:<"${p.id}":Default>\r\n\r\n`,
      ),
      Buffer.from(p.bytes),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/related; boundary="${boundary}"` };
}

export async function postWrite(
  srv: RunningServer,
  digest: string | undefined,
  xml: string,
  parts: BinaryPart[] = [],
  headers: Record<string, string> = {},
): Promise<Response> {
  const { body, contentType } = multipartBody(xml, parts);
  return fetch(sfs(srv, 'RootFolder?View=SkyDriveSync'), {
    method: 'POST',
    headers: {
      authorization: basic(),
      'content-type': contentType,
      ...(digest !== undefined ? { 'x-requestdigest': digest } : {}),
      ...headers,
    },
    body,
  });
}

export function bitsPacket(
  srv: RunningServer,
  digest: string,
  type: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<Response> {
  return fetch(sfs(srv, 'RootFolder?View=SkyDriveSync'), {
    method: 'POST',
    headers: {
      authorization: basic(),
      'x-requestdigest': digest,
      'x-http-method-override': 'BITS_POST',
      'bits-packet-type': type,
      ...headers,
    },
    ...(body !== undefined ? { body } : {}),
  });
}

/** `<Document>` create item XML for a file in `parentId` with an inline or BITS stream. */
export function createDocXml(
  parentId: string,
  name: string,
  frag: string,
  size: number,
  hash: string,
): string {
  return (
    `<Document><ParentResourceID>${parentId}</ParentResourceID><WriteMode>Create</WriteMode>` +
    `<RelationshipName>${name}</RelationshipName>` +
    `<DocumentStreams><DocumentStream><DocumentStreamName>Default</DocumentStreamName>` +
    `<MimeType>application/octet-stream</MimeType><XORHash>${hash}</XORHash>` +
    `<FragmentSessionId>${frag}</FragmentSessionId><DataSize>${size}</DataSize></DocumentStream></DocumentStreams>` +
    `</Document>`
  );
}
