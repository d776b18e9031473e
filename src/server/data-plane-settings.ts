// Configurable rules of a library's data plane (writes, uploads, change log), with the defaults of docs/SERVER.md.
// A ServerContext may carry a partial set; `dataPlane(ctx)` fills in the defaults.

export type ResyncActionValue = 'ResetReupload' | 'Reupload' | 'DifferentialUpload';

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

const DAY_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_DATA_PLANE: DataPlaneSettings = {
  blockedFileExtensions: [],
  uploadSessionIdleMs: DAY_MS,
  changeLogRetentionMs: 60 * DAY_MS,
  resyncAction: 'ResetReupload',
};

export function dataPlane(ctx: { dataPlane?: Partial<DataPlaneSettings> }): DataPlaneSettings {
  return { ...DEFAULT_DATA_PLANE, ...ctx.dataPlane };
}
