// The library the golden fixtures in test/fixtures/protocol describe: its seed, its deterministic ids, and a
// server that renders it (fixed clock), so every fixture test starts from the same one definition.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunningServer } from '../../src/server';
import { Harness, TestClock, idQueue } from './server-harness';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'protocol');
/** The origin written into the fixtures, replaced by the test server's. */
const FIXTURE_ORIGIN = 'http://127.0.0.1:8080';

export const FIXTURE_IDS = [
  'be100e28dd1c4f2f8e83acdb6fffff05', // list
  '5d2445a6-f48d-4f6c-b190-640d11e29a93', // site (any GUID spelling is accepted)
  '0f3c9e2a7b7d4c55a1d24b1f6e9c0a11', // root
  '3b77a1c2d4e54f6a8b7c6d5e4f30e012', // Archive
  '9a1e5f3c2b4d4e6f8a7b6c5d4e3f77c0', // Docs
  'd9d51e47a2b34c5d9e8f7a6b5c4d6308', // Docs/hello.txt
  '972f0c1d2e3f4a5b8c7d8e9fa0b12b60', // Docs/old.txt
  '4e8b2c1d0a9f4e7d8c6b5a4f3e2d1c0b', // readme.md
] as const;

const FIXTURE_SEED = {
  Archive: null,
  'Docs/hello.txt': 'hello world',
  'Docs/old.txt': 'old\n',
  'readme.md': '# spfs\n',
};

/** Starts a server holding the fixture library; resolves with it and its data dir. */
export async function startFixtureServer(h: Harness): Promise<{ srv: RunningServer; dataDir: string }> {
  const seedDir = await h.seed(FIXTURE_SEED);
  const dataDir = await h.tempDir();
  const srv = await h.start({
    dataDir,
    seedDir,
    idFactory: idQueue([...FIXTURE_IDS]),
    clock: new TestClock(),
  });
  return { srv, dataDir };
}

/** A golden fixture's text with the fixture origin replaced by `srv`'s. */
export function fixture(srv: RunningServer, name: string): string {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8').split(FIXTURE_ORIGIN).join(srv.origin);
}
