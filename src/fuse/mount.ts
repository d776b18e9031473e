// Mount lifecycle and the choice of adapter: the libfuse3 low-level adapter (native/fuse3) where it is built and
// fusermount3 exists, else fuse-native (libfuse 2), built with deliberate options (research/fuse-baseline.md).
// Options fuse-native does not expose are appended through its private _fuseOptions().
import { execFileSync } from 'node:child_process';
import Fuse from 'fuse-native';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import type { Filesystem } from '../vfs/types';
import { loadFuse3 } from './fuse3-addon';
import { mountFuse3 } from './fuse3-mount';
import { createFuseOps, errnoNumber } from './fuse-ops';

/** `--fuse`: auto picks libfuse3 when it can run, 3 insists on it, 2 is fuse-native. */
export type AdapterChoice = 'auto' | '3' | '2';
export type AdapterName = 'libfuse3' | 'fuse-native';

/** Mount options the kernel (and fusermount) act on: `-o ro`, `allow_other`, `default_permissions`. */
export interface KernelOptions {
  readOnly: boolean;
  allowOther: boolean;
  defaultPermissions: boolean;
}

/** The libfuse `-o` names of the kernel options set. */
export function kernelOptionNames(k: KernelOptions): string[] {
  return [
    ...(k.readOnly ? ['ro'] : []),
    ...(k.allowOther ? ['allow_other'] : []),
    ...(k.defaultPermissions ? ['default_permissions'] : []),
  ];
}

export interface MountOptions {
  /** Kernel attribute/entry cache lifetime, seconds. */
  attrTimeoutS: number;
  /** Per-op timeouts, ms. A read may wait for its range to arrive over the network. */
  opTimeoutMs: number;
  readTimeoutMs: number;
  /** Raw libfuse `-o` options fuse-native hides (e.g. max_readahead). */
  extraOptions: string[];
  debug: boolean;
  adapter: AdapterChoice;
  /**
   * libfuse3 only: how long the kernel keeps names and attributes. Long, because the change feed invalidates
   * exactly the items a remote change touched (fuse-native cannot, so it keeps attrTimeoutS).
   */
  invalidatedTimeoutS: number;
  kernelOptions: KernelOptions;
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
  adapter: 'auto',
  invalidatedTimeoutS: 60,
  kernelOptions: { readOnly: false, allowOther: false, defaultPermissions: false },
};

export interface MountedFilesystem {
  readonly mountpoint: string;
  readonly adapter: AdapterName;
  /** Kernel cache lifetime of names and attributes on this mount (seconds). */
  readonly kernelCacheS: number;
  /** Requests served per operation (libfuse3 only; fuse-native does not count). */
  requestCounts(): Record<string, number> | undefined;
  /**
   * The kernel drops what it cached of these items and the listings of these folders (libfuse3; a no-op on
   * fuse-native, which relies on timeouts).
   */
  invalidate(ids: readonly ItemId[] | 'all', folders: readonly ItemId[]): void;
  unmount(): Promise<void>;
}

/** Why the libfuse3 adapter cannot run here, or undefined when it can. */
export function fuse3Unavailable(): string | undefined {
  const addon = loadFuse3();
  if (addon instanceof Error) return addon.message;
  try {
    execFileSync('fusermount3', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'fusermount3 is not installed (Debian package fuse3)';
  }
  return undefined;
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

  // fuse-native's own handlers never tell the op the caller's buffer size, and copy a longer value past its end:
  // these pass the size, so the op answers ERANGE or a value that fits (fuse-ops.ts).
  protected override _op_getxattr(
    signal: (res: number, buf: ArrayBufferLike) => void,
    path: string,
    name: string,
    valueBuf: Buffer,
  ): void {
    this.ops.getxattr?.(path, name, valueBuf.length, (err, value) => {
      if (err !== 0 || value === undefined)
        return signal(err !== 0 ? err : errnoNumber('EIO'), valueBuf.buffer);
      value.copy(valueBuf); // nothing on a size probe: the buffer is empty
      signal(value.length, valueBuf.buffer);
    });
  }

  protected override _op_listxattr(
    signal: (res: number, buf: ArrayBufferLike) => void,
    path: string,
    listBuf: Buffer,
  ): void {
    this.ops.listxattr?.(path, listBuf.length, (err, list) => {
      if (err !== 0 || list === undefined)
        return signal(err !== 0 ? err : errnoNumber('EIO'), listBuf.buffer);
      list.copy(listBuf);
      signal(list.length, listBuf.buffer);
    });
  }
}

export async function mountFilesystem(
  mountpoint: string,
  fs: Filesystem,
  logger: Logger,
  options: Partial<MountOptions> = {},
): Promise<MountedFilesystem> {
  const o = { ...DEFAULT_MOUNT_OPTIONS, ...options };
  if (o.adapter !== '2') {
    const why = fuse3Unavailable();
    const addon = loadFuse3();
    if (why === undefined && !(addon instanceof Error)) {
      const m = await mountFuse3(addon, mountpoint, fs, logger, {
        entryTimeoutS: o.invalidatedTimeoutS,
        negativeTimeoutS: o.attrTimeoutS,
        opTimeoutMs: o.opTimeoutMs,
        readTimeoutMs: o.readTimeoutMs,
        debug: o.debug,
        kernelOptions: kernelOptionNames(o.kernelOptions),
      });
      return {
        mountpoint,
        adapter: 'libfuse3',
        kernelCacheS: o.invalidatedTimeoutS,
        requestCounts: () => ({ ...m.ops.counts }),
        invalidate: (ids, folders) => m.invalidate(ids, folders),
        unmount: () => m.unmount(),
      };
    }
    if (o.adapter === '3')
      throw new Error(`--fuse 3: the libfuse3 adapter cannot run: ${why ?? 'not loaded'}`);
    logger.warn({ reason: why }, 'libfuse3 adapter unavailable; mounting with fuse-native (libfuse 2)');
  }
  return mountFuseNative(mountpoint, fs, logger, o);
}

function mountFuseNative(
  mountpoint: string,
  fs: Filesystem,
  logger: Logger,
  o: MountOptions,
): Promise<MountedFilesystem> {
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
      allowOther: o.kernelOptions.allowOther,
      defaultPermissions: o.kernelOptions.defaultPermissions,
      // open/truncate of a document not cached yet fetch the rest of it first; flush commits to disk.
      timeout: {
        default: o.opTimeoutMs,
        read: o.readTimeoutMs,
        open: o.readTimeoutMs,
        truncate: o.readTimeoutMs,
        flush: o.readTimeoutMs,
      },
    },
    [...o.extraOptions, ...(o.kernelOptions.readOnly ? ['ro'] : [])],
  );
  return new Promise((resolve, reject) => {
    fuse.mount((err) => {
      if (err) return reject(err);
      logger.info({ mountpoint }, 'mounted');
      resolve({
        mountpoint,
        adapter: 'fuse-native',
        kernelCacheS: o.attrTimeoutS,
        requestCounts: () => undefined,
        invalidate: () => undefined,
        unmount: () =>
          new Promise<void>((res, rej) => {
            fuse.unmount((e) => (e ? rej(e) : res()));
          }),
      });
    });
  });
}
