// `spfs serve`: runs the reference server until SIGINT/SIGTERM. The first line of output is the site URL.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type GenerateSpec, type ServerSettings, parseGenerateSpec, startServer } from '../server/index';
import { checkSettings } from '../server/data-plane-settings';
import { parseFaultFlag } from '../server/fault-plan';
import { loadConfigFile, type ServerConfigFile } from '../server/server-config';
import { errorMessage } from '../shared/errors';
import { createLogger } from '../shared/logger';
import { passwordFromEnv } from './credentials';
import { UsageError } from './usage-error';

export interface ServeOptions {
  data: string;
  seed?: string;
  generate?: string;
  host: string;
  port: string;
  user: string;
  passwordEnv?: string;
  config?: string;
  tlsCert?: string;
  fault?: string[];
  admin?: boolean;
  adminTokenEnv?: string;
  tlsKey?: string;
  requestLog?: string;
  logLevel?: string;
  downloadRateMibps?: string;
  spaceGranted?: string;
  maxFileSize?: string;
  inlineThreshold?: string;
  blockedExtensions?: string;
  retentionDays?: string;
  uploadIdleMinutes?: string;
  itemCount?: string;
  resyncAction?: string;
  markRestored?: boolean;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const MINUTE_MS = 60 * 1000;

export async function serveCommand(o: ServeOptions): Promise<number> {
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid --port ${o.port}`);
  const cfg = accounts(o);
  const tls = tlsFiles(o);
  const faultRules = (o.fault ?? []).map((f) => {
    try {
      return parseFaultFlag(f);
    } catch (err) {
      throw new UsageError(`--fault ${f}: ${errorMessage(err)}`);
    }
  });
  if (o.adminTokenEnv !== undefined && !o.admin) throw new UsageError('--admin-token-env needs --admin');
  const adminToken = o.admin
    ? o.adminTokenEnv !== undefined
      ? passwordFromEnv(o.adminTokenEnv)
      : randomBytes(24).toString('base64url')
    : undefined;
  if (o.seed !== undefined && o.generate !== undefined)
    throw new UsageError('--seed and --generate exclude each other');
  const generate = o.generate !== undefined ? generateSpec(o.generate) : undefined;
  const settings = { ...cfg.settings, ...settingsFromFlags(o) };
  const rate = o.downloadRateMibps !== undefined ? Number(o.downloadRateMibps) : undefined;
  if (rate !== undefined && !(rate > 0))
    throw new UsageError(`invalid --download-rate-mibps ${o.downloadRateMibps}`);
  const logger = createLogger({ level: o.logLevel ?? 'warn', name: 'spfs-serve' });
  const server = await startServer({
    dataDir: resolve(o.data),
    ...(o.seed !== undefined ? { seedDir: resolve(o.seed) } : {}),
    ...(generate !== undefined ? { generate } : {}),
    settings,
    ...(o.markRestored === true ? { markRestored: true } : {}),
    host: o.host,
    port,
    users: cfg.users,
    ...(cfg.teamSites !== undefined ? { teamSites: cfg.teamSites } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...(faultRules.length > 0 ? { faultRules } : {}),
    ...(adminToken !== undefined ? { adminToken } : {}),
    logger,
    ...(o.requestLog !== undefined ? { requestLogFile: resolve(o.requestLog) } : {}),
    ...(rate !== undefined ? { faults: { downloadBytesPerSecond: rate * 1024 * 1024 } } : {}),
  });
  process.stdout.write(`${server.siteUrl}\n`);
  if (adminToken !== undefined) {
    const where = o.adminTokenEnv !== undefined ? `token in $${o.adminTokenEnv}` : `token ${adminToken}`;
    process.stdout.write(`admin: ${server.origin}/_spfs/admin (${where})\n`);
  }
  await new Promise<void>((res) => {
    process.once('SIGINT', res);
    process.once('SIGTERM', res);
  });
  await server.close();
  return 0;
}

/** Users and team sites: from `--config FILE`, or the one `--user` with the password in `--password-env`. */
function accounts(o: ServeOptions): ServerConfigFile {
  if (o.config !== undefined) {
    if (o.passwordEnv !== undefined) throw new UsageError('--config and --password-env exclude each other');
    try {
      return loadConfigFile(resolve(o.config));
    } catch (err) {
      throw new UsageError(`--config: ${errorMessage(err)}`);
    }
  }
  if (o.passwordEnv === undefined)
    throw new UsageError('spfs serve needs --password-env VAR (the password of --user) or --config FILE');
  return { users: [{ name: o.user, password: passwordFromEnv(o.passwordEnv) }] };
}

function generateSpec(text: string): GenerateSpec {
  try {
    return parseGenerateSpec(text);
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

function number(text: string, flag: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new UsageError(`${flag}: not a number: ${text}`);
  return n;
}

/** The settings flags, validated like the config file's "settings" (flags win over the file). */
function settingsFromFlags(o: ServeOptions): Partial<ServerSettings> {
  const raw: Record<string, unknown> = {};
  if (o.spaceGranted !== undefined) raw.spaceGrantedBytes = o.spaceGranted;
  if (o.maxFileSize !== undefined) raw.maxFileSizeBytes = o.maxFileSize;
  if (o.inlineThreshold !== undefined) raw.inlineUploadThresholdBytes = o.inlineThreshold;
  if (o.blockedExtensions !== undefined)
    raw.blockedFileExtensions = o.blockedExtensions.split(/[,;]/).filter((e) => e.trim() !== '');
  if (o.retentionDays !== undefined)
    raw.changeLogRetentionMs = number(o.retentionDays, '--retention-days') * DAY_MS;
  if (o.uploadIdleMinutes !== undefined)
    raw.uploadSessionIdleMs = number(o.uploadIdleMinutes, '--upload-idle-minutes') * MINUTE_MS;
  if (o.itemCount !== undefined) raw.itemCount = number(o.itemCount, '--item-count');
  if (o.resyncAction !== undefined) raw.resyncAction = o.resyncAction;
  try {
    return checkSettings(raw, 'flags');
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

/** `--tls-cert` and `--tls-key` come together; both are PEM files read once at start. */
function tlsFiles(o: ServeOptions): { cert: Buffer; key: Buffer } | undefined {
  if (o.tlsCert === undefined && o.tlsKey === undefined) return undefined;
  if (o.tlsCert === undefined || o.tlsKey === undefined)
    throw new UsageError('--tls-cert and --tls-key must be given together');
  try {
    return { cert: readFileSync(resolve(o.tlsCert)), key: readFileSync(resolve(o.tlsKey)) };
  } catch (err) {
    throw new UsageError(`cannot read the TLS certificate or key: ${errorMessage(err)}`);
  }
}
