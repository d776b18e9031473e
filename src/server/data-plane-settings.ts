// Configurable rules of a library's data plane (writes, uploads, quota, change log), with the defaults of
// docs/SERVER.md; `checkSettings` validates them as they come from startServer, `--config` or `spfs serve` flags.
import { InvalidInputError } from '../shared/errors';
import { MAX_PAGE_ITEMS } from './handlers/items';
import { parseSizeText } from './size-text';

export type ResyncActionValue = 'ResetReupload' | 'Reupload' | 'DifferentialUpload';
const RESYNC_ACTIONS: readonly ResyncActionValue[] = ['ResetReupload', 'Reupload', 'DifferentialUpload'];

export interface DataPlaneSettings {
  /** Lower-case extensions with the dot (`.exe`); files ending in one are InvalidName. Default none. */
  blockedFileExtensions: readonly string[];
  /** BITS sessions without a packet for this long are dropped. Default 24 h. */
  uploadSessionIdleMs: number;
  /** Change-log entries and tombstones older than this are pruned; older tokens get ResyncNeeded. Default 60 d. */
  changeLogRetentionMs: number;
  /** The ResyncAction sent with ResyncNeeded. Default ResetReupload. */
  resyncAction: ResyncActionValue;
}

/** Every setting of a library: the data plane plus quota and the policy numbers. */
export interface ServerSettings extends DataPlaneSettings {
  /** Quota SpaceGranted. Default 100 GiB. */
  spaceGrantedBytes: number;
  /** Policy MaxFileSize: larger files are refused (413 / Failure). Default 15 GiB. */
  maxFileSizeBytes: number;
  /** Policy InlineUploadThreshold: clients send files at least this big through BITS. Default 8 MiB. */
  inlineUploadThresholdBytes: number;
  /** Policy ItemCount: default page size of change enumeration, 1–1000. Default 500. */
  itemCount: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_DATA_PLANE: DataPlaneSettings = {
  blockedFileExtensions: [],
  uploadSessionIdleMs: DAY_MS,
  changeLogRetentionMs: 60 * DAY_MS,
  resyncAction: 'ResetReupload',
};

export const DEFAULT_SETTINGS: ServerSettings = {
  ...DEFAULT_DATA_PLANE,
  spaceGrantedBytes: 100 * 1024 ** 3,
  maxFileSizeBytes: 15 * 1024 ** 3,
  inlineUploadThresholdBytes: 8 * 1024 * 1024,
  itemCount: 500,
};

export function dataPlane(ctx: { dataPlane?: Partial<DataPlaneSettings> }): DataPlaneSettings {
  return { ...DEFAULT_DATA_PLANE, ...ctx.dataPlane };
}

const BYTE_FIELDS = ['spaceGrantedBytes', 'maxFileSizeBytes', 'inlineUploadThresholdBytes'] as const;
const MS_FIELDS = ['uploadSessionIdleMs', 'changeLogRetentionMs'] as const;

/** `exe`, `.EXE` → `.exe`; refuses anything with separators or spaces. */
export function normaliseExtension(raw: string, where: string): string {
  const ext = raw
    .trim()
    .toLowerCase()
    .replace(/^(?!\.)/, '.');
  if (!/^\.[^\s/\\;:*?"<>|]{1,32}$/.test(ext))
    throw new InvalidInputError(`${where}: not a file extension: ${JSON.stringify(raw)}`);
  return ext;
}

/**
 * Validates a partial settings object (unknown keys refused). Byte fields take a number or a size string (`10G`),
 * millisecond fields a non-negative number. Returns a clean copy.
 */
export function checkSettings(raw: unknown, where: string): Partial<ServerSettings> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new InvalidInputError(`${where}: settings must be an object`);
  const src = raw as Record<string, unknown>;
  const out: Partial<ServerSettings> = {};
  for (const key of Object.keys(src)) {
    if (!(key in DEFAULT_SETTINGS)) throw new InvalidInputError(`${where}: unknown setting ${key}`);
  }
  for (const k of BYTE_FIELDS) {
    const v = src[k];
    if (v === undefined) continue;
    const n = typeof v === 'string' ? parseSizeText(v, `${where}.${k}`) : v;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1)
      throw new InvalidInputError(`${where}.${k}: a positive whole number of bytes or a size like 10G`);
    out[k] = n;
  }
  for (const k of MS_FIELDS) {
    const v = src[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new InvalidInputError(`${where}.${k}: a non-negative number of milliseconds`);
    out[k] = Math.floor(v);
  }
  if (src.itemCount !== undefined) {
    const n = src.itemCount;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_PAGE_ITEMS)
      throw new InvalidInputError(`${where}.itemCount: a whole number from 1 to ${MAX_PAGE_ITEMS}`);
    out.itemCount = n;
  }
  if (src.resyncAction !== undefined) {
    if (!RESYNC_ACTIONS.includes(src.resyncAction as ResyncActionValue))
      throw new InvalidInputError(`${where}.resyncAction: one of ${RESYNC_ACTIONS.join(', ')}`);
    out.resyncAction = src.resyncAction as ResyncActionValue;
  }
  if (src.blockedFileExtensions !== undefined) {
    const list = src.blockedFileExtensions;
    if (!Array.isArray(list) || list.some((e) => typeof e !== 'string'))
      throw new InvalidInputError(`${where}.blockedFileExtensions: a list of extensions like [".exe"]`);
    out.blockedFileExtensions = [
      ...new Set(list.map((e: string) => normaliseExtension(e, `${where}.blockedFileExtensions`))),
    ];
  }
  return out;
}
