// A tiny node:http stand-in for faults the reference server can't produce (throttling, resets, malformed bodies).
// It answers discovery (E1–E3) from the golden fixtures and hands every other request to the test's handler.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface SeenRequest {
  method: string;
  /** The raw request target exactly as received (path + query). */
  url: string;
  headers: http.IncomingHttpHeaders;
}

export type FakeHandler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

export interface FakeSpServer {
  origin: string;
  siteUrl: string;
  listId: string;
  /** Requests other than discovery, in arrival order. */
  requests: SeenRequest[];
  close(): Promise<void>;
}

const FIXTURES = join(__dirname, '..', 'fixtures', 'protocol');
export const FAKE_LIST_ID = 'be100e28dd1c4f2f8e83acdb6fffff05';

/** A golden fixture with the placeholder origin replaced by the live one. */
export function fixtureFor(name: string, origin: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8').split('http://127.0.0.1:8080').join(origin);
}

export async function startFakeSpServer(handler: FakeHandler): Promise<FakeSpServer> {
  const requests: SeenRequest[] = [];
  let origin = '';
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const lower = url.toLowerCase();
    const json = (name: string): void => {
      res.writeHead(200, { 'content-type': 'application/json;odata=verbose' }).end(fixtureFor(name, origin));
    };
    if (lower.endsWith('/getmyproperties')) return json('get-my-properties.json');
    if (lower.endsWith('/_api/web/defaultdocumentlibrary/id')) return json('default-library-id.json');
    if (lower.endsWith('/_api/site/id')) return json('site-id.json');
    requests.push({ method: req.method ?? '', url, headers: req.headers });
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      res.destroy(err as Error);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    siteUrl: `${origin}/personal/alice`,
    listId: FAKE_LIST_ID,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
