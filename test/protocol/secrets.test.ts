// Credentials never leak: not into log lines (debug level, every request), error messages, or the metadata database
// written by a full first sync — for Basic, Bearer and NTLM against the reference server.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MetadataStore } from '../../src/cache/metadata-store';
import { bearerAuth } from '../../src/protocol/auth/bearer-auth';
import { SpClient, type SpClientOptions } from '../../src/protocol/sp-client';
import { startServer, type RunningServer } from '../../src/server';
import { TreeSync } from '../../src/sync/tree-sync';
import { capturingLogger, TempDirs } from '../helpers/temp-dirs';

const PASSWORD = 'pw-that-must-never-leak-42';
const TOKEN = 'bearer-that-must-never-leak-0123456789';
const temps = new TempDirs();
let server: RunningServer;

beforeAll(async () => {
  const seed = temps.make('spfs-seed-');
  fs.writeFileSync(path.join(seed, 'a.txt'), 'a');
  server = await startServer({
    dataDir: temps.make('spfs-data-'),
    seedDir: seed,
    users: [{ name: 'alice', password: PASSWORD, tokens: [TOKEN] }],
    port: 0,
  });
});
afterAll(async () => {
  await server?.close();
  temps.cleanup();
});

function leaks(text: string): boolean {
  return [PASSWORD, TOKEN, Buffer.from(`alice:${PASSWORD}`).toString('base64')].some((s) => text.includes(s));
}

test.each<[string, () => Partial<SpClientOptions>]>([
  ['basic', () => ({ credentials: { user: 'alice', password: PASSWORD } })],
  ['ntlm', () => ({ ntlm: { user: 'alice', password: PASSWORD } })],
  [
    'bearer',
    () => {
      const f = path.join(temps.make('spfs-tok-'), 'token');
      fs.writeFileSync(f, TOKEN);
      return { auth: bearerAuth({ tokenFile: f }) };
    },
  ],
])('%s: no secret in logs, errors or the metadata database', async (_name, auth) => {
  const { logger, lines } = capturingLogger();
  const client = await SpClient.connect({ url: server.siteUrl, logger, ...auth() });
  const dbFile = path.join(temps.make('spfs-cache-'), 'metadata.db');
  const store = MetadataStore.open(dbFile, { logger });
  try {
    await new TreeSync({ api: client, store, logger }).initialSync();
    const root = (await client.rootFolder()).item;
    const err = await client.createFolder(root.id, 'bad/name').catch((e: unknown) => e as Error);
    const err2 = await client
      .download(`${server.siteUrl}/_layouts/15/download.aspx?UniqueId=nope`)
      .catch((e: unknown) => e as Error);
    expect(lines.length).toBeGreaterThan(3);
    expect(leaks(JSON.stringify(lines))).toBe(false);
    for (const e of [err, err2] as Error[])
      expect(leaks(`${e.message}\n${e.stack ?? ''}\n${JSON.stringify(e)}`)).toBe(false);
  } finally {
    store.close();
    await client.close();
  }
  const bytes = fs
    .readdirSync(path.dirname(dbFile))
    .map((f) => fs.readFileSync(path.join(path.dirname(dbFile), f)).toString('latin1'));
  expect(bytes.some(leaks)).toBe(false);
});
