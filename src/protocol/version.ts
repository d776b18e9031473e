// The client's User-Agent (`spfs/<version>`), read once from package.json, which sits two levels above both the
// TypeScript source (src/protocol) and the build output (dist/protocol).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const SPFS_VERSION = readVersion();
export const DEFAULT_USER_AGENT = `spfs/${SPFS_VERSION}`;
