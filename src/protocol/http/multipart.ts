// multipart/related bodies for E8 writes (digest §3.5): the `<LiveFolders>` XML part, then one binary part per
// inline upload, streamed from its file (never buffered whole). The exact byte length is known up front.
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { LocalSourceChangedError } from '../errors';
import { assertUnchanged, type SourceStamp } from '../source-stamp';

export interface BinaryPart {
  /** FragmentSessionId that the XML's DocumentStream names. */
  fragmentSessionId: string;
  path: string;
  size: number;
  /** The version that was hashed: the part fails (and with it the request) if the file is another by its end. */
  stamp?: SourceStamp;
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
        try {
          for await (const chunk of createReadStream(p.path, { highWaterMark: 1024 * 1024 })) {
            const c = chunk as Buffer;
            sent += c.length;
            // A file that grew since it was hashed: these bytes are not the hashed version's.
            if (sent > p.size) throw new LocalSourceChangedError(p.path, 'grew');
            yield c;
          }
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT')
            throw new LocalSourceChangedError(p.path, 'was removed', { cause: err });
          throw err;
        }
        if (sent < p.size) throw new LocalSourceChangedError(p.path, 'shrank');
        // Ended before the part's last boundary: a file written meanwhile never reaches a commit.
        if (p.stamp !== undefined) await assertUnchanged(p.path, p.stamp);
        yield Buffer.from(CRLF);
      }
      yield tail;
    },
  };
}
