// multipart/related bodies for E8 writes (digest §3.5): the `<LiveFolders>` XML part, then one binary part per
// inline upload, streamed from its file (never buffered whole). The exact byte length is known up front.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';

export interface BinaryPart {
  /** FragmentSessionId that the XML's DocumentStream names. */
  fragmentSessionId: string;
  path: string;
  size: number;
}

export interface MultipartBody {
  contentType: string;
  length: number;
  /** A fresh stream of the whole body each call (a request may be re-sent after a digest refresh). */
  open(): AsyncIterable<Uint8Array>;
}

const CRLF = '\r\n';

export function multipartRelated(xml: string, parts: readonly BinaryPart[]): MultipartBody {
  const boundary = `uuid:${randomUUID()}`;
  const head = Buffer.from(
    `--${boundary}${CRLF}Content-ID: <LiveFolders>${CRLF}Content-Type: application/web3s+xml${CRLF}${CRLF}${xml}${CRLF}`,
  );
  const partHeads = parts.map((p) =>
    Buffer.from(
      `--${boundary}${CRLF}Content-Transfer-Encoding: binary${CRLF}Content-Type: application/octet-stream${CRLF}` +
        `Content-ID: <"${p.fragmentSessionId}":Default>${CRLF}${CRLF}`,
    ),
  );
  const tail = Buffer.from(`--${boundary}--${CRLF}`);
  const length =
    head.length +
    partHeads.reduce((n, h, i) => n + h.length + (parts[i]?.size ?? 0) + CRLF.length, 0) +
    tail.length;
  return {
    contentType: `multipart/related; boundary="${boundary}"; type="application/web3s+xml"`,
    length,
    async *open() {
      yield head;
      for (const [i, p] of parts.entries()) {
        yield partHeads[i] as Buffer;
        let sent = 0;
        for await (const chunk of createReadStream(p.path, { highWaterMark: 1024 * 1024 })) {
          const c = chunk as Buffer;
          sent += c.length;
          // A file that grew since it was hashed would corrupt the framing: send exactly the declared size.
          if (sent > p.size) {
            const keep = c.length - (sent - p.size);
            if (keep > 0) yield c.subarray(0, keep);
            break;
          }
          yield c;
        }
        if (sent < p.size) throw new Error(`upload source ${p.fragmentSessionId} shrank while sending`);
        yield Buffer.from(CRLF);
      }
      yield tail;
    },
  };
}
