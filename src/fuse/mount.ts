// Mount lifecycle: builds the fuse-native instance with deliberate options (research/fuse-baseline.md), mounts,
// and unmounts. Options fuse-native does not expose are appended through its private _fuseOptions().
import Fuse from 'fuse-native';
import type { Logger } from '../shared/logger';
import type { Filesystem } from '../vfs/types';
import { createFuseOps } from './fuse-ops';

export interface MountOptions {
  /** Kernel attribute/entry cache lifetime, seconds. */
  attrTimeoutS: number;
  /** Per-op timeouts, ms. A read may wait for its range to arrive over the network. */
  opTimeoutMs: number;
  readTimeoutMs: number;
  /** Raw libfuse `-o` options fuse-native hides (e.g. max_readahead). */
  extraOptions: string[];
  debug: boolean;
}

export const DEFAULT_MOUNT_OPTIONS: MountOptions = {
  attrTimeoutS: 1,
  opTimeoutMs: 30_000,
  readTimeoutMs: 120_000,
  // 128 KiB writes instead of 4 KiB ones: 13x the write throughput (research/fuse-baseline.md).
  // atomic_o_trunc: open(O_TRUNC) arrives as one OPEN, not a truncate(path) that would be a change of its own
  // (and, with --write-back 0, an upload of an empty version while the writer still has the file open).
  extraOptions: ['big_writes', 'max_write=131072', 'atomic_o_trunc'],
  debug: false,
};

export interface MountedFilesystem {
  readonly mountpoint: string;
  unmount(): Promise<void>;
}

class TunedFuse extends Fuse {
  constructor(
    mnt: string,
    ops: ConstructorParameters<typeof Fuse>[1],
    opts: ConstructorParameters<typeof Fuse>[2],
    private readonly extra: string[],
  ) {
    super(mnt, ops, opts);
  }
  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    if (this.extra.length === 0) return base;
    return base ? `${base},${this.extra.join(',')}` : `-o${this.extra.join(',')}`;
  }
}

export function mountFilesystem(
  mountpoint: string,
  fs: Filesystem,
  logger: Logger,
  options: Partial<MountOptions> = {},
): Promise<MountedFilesystem> {
  const o = { ...DEFAULT_MOUNT_OPTIONS, ...options };
  const fuse = new TunedFuse(
    mountpoint,
    createFuseOps(fs, logger),
    {
      fsname: 'spfs',
      subtype: 'spfs',
      // auto_cache keeps file pages in the kernel across opens and drops them when size/mtime change.
      autoCache: true,
      attrTimeout: o.attrTimeoutS,
      entryTimeout: o.attrTimeoutS,
      debug: o.debug,
      // open/truncate of a document not cached yet fetch the rest of it first; flush commits to disk.
      timeout: {
        default: o.opTimeoutMs,
        read: o.readTimeoutMs,
        open: o.readTimeoutMs,
        truncate: o.readTimeoutMs,
        flush: o.readTimeoutMs,
      },
    },
    o.extraOptions,
  );
  return new Promise((resolve, reject) => {
    fuse.mount((err) => {
      if (err) return reject(err);
      logger.info({ mountpoint }, 'mounted');
      resolve({
        mountpoint,
        unmount: () =>
          new Promise<void>((res, rej) => {
            fuse.unmount((e) => (e ? rej(e) : res()));
          }),
      });
    });
  });
}
