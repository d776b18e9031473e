// Mount lifecycle on the libfuse3 adapter: session, 1 MiB requests and read-ahead, unmount with requests in flight.
import { execFile } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { ItemId } from '../shared/ids';
import type { Logger } from '../shared/logger';
import type { Filesystem } from '../vfs/types';
import type { Fuse3Addon } from './fuse3-addon';
import { Fuse3Ops } from './fuse3-ops';

export interface Fuse3MountOptions {
  entryTimeoutS: number;
  negativeTimeoutS: number;
  opTimeoutMs: number;
  readTimeoutMs: number;
  debug: boolean;
  /** `ro`, `allow_other`, `default_permissions`: passed to fuse_session_new, which hands them to fusermount3. */
  kernelOptions: readonly string[];
}

/** 1 MiB requests: a 256 MiB read is 256 requests instead of 2,048 (research/fuse3-binding.md). */
export const MAX_REQUEST_BYTES = 1 << 20;
/** Requests the kernel keeps in flight for reads ahead and writes behind before it throttles callers. */
const MAX_BACKGROUND = 64;
/** How long unmount waits for the kernel to end the session, and then for answers owed. */
const EXIT_WAIT_MS = 10_000;
const DRAIN_WAIT_MS = 5_000;

export interface Fuse3Mounted {
  readonly mountpoint: string;
  readonly adapter: 'libfuse3';
  readonly ops: Fuse3Ops;
  /** Whether the kernel's read-ahead for this mount could be raised to 1 MiB (root only). */
  readonly readAheadKb: number | undefined;
  invalidate(ids: readonly ItemId[] | 'all', folders: readonly ItemId[]): void;
  unmount(): Promise<void>;
}

export async function mountFuse3(
  addon: Fuse3Addon,
  mountpoint: string,
  fs: Filesystem,
  logger: Logger,
  o: Fuse3MountOptions,
): Promise<Fuse3Mounted> {
  const ops = new Fuse3Ops(fs, addon, logger, {
    entryS: o.entryTimeoutS,
    negativeS: o.negativeTimeoutS,
    opMs: o.opTimeoutMs,
    readMs: o.readTimeoutMs,
  });
  const options = ['fsname=spfs', 'subtype=spfs', ...o.kernelOptions, ...(o.debug ? ['debug'] : [])].join(
    ',',
  );
  const session = addon.mount(
    mountpoint,
    options,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_BYTES,
    MAX_BACKGROUND,
    ops.dispatch,
  );
  let ended = false;
  let onEnded: (() => void) | undefined;
  const endedP = new Promise<void>((resolve) => (onEnded = resolve));
  ops.attach(session, (rc) => {
    ended = true;
    logger.info({ mountpoint, rc }, 'FUSE session ended');
    onEnded?.();
  });
  // Only now may this process touch its own mount, and only asynchronously (the JS thread answers the requests).
  const readAheadKb = await raiseReadAhead(mountpoint, logger);
  logger.info({ mountpoint, libfuse: addon.libfuseVersion, readAheadKb }, 'mounted (libfuse3)');
  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    const deadline = Date.now() + DRAIN_WAIT_MS;
    while (ops.pending > 0 && Date.now() < deadline) await sleep(20);
    ops.abandonPending();
    destroyed = true;
    addon.destroy(session);
  };
  return {
    mountpoint,
    adapter: 'libfuse3',
    ops,
    readAheadKb,
    invalidate: (ids, folders) => {
      if (!ended) ops.invalidate(ids, folders);
    },
    unmount: async () => {
      if (!ended) {
        await fusermountUnmount(mountpoint).catch((err: unknown) =>
          logger.warn({ err, mountpoint }, 'fusermount3 -u failed'),
        );
        const timer = sleep(EXIT_WAIT_MS);
        await Promise.race([endedP, timer]);
      }
      // A lazily detached mount still in use keeps the session serving: leave it to the process exit then (the
      // kernel ends the connection when its fd closes) rather than tear the session down under its loop thread.
      if (ended) await destroy();
      else
        logger.warn({ mountpoint }, 'the FUSE session did not end after unmount; leaving it to process exit');
    },
  };
}

async function fusermountUnmount(mountpoint: string): Promise<void> {
  await promisify(execFile)('fusermount3', ['-u', '-z', mountpoint]);
}

/**
 * Buffered reads are capped by the mount's read-ahead window (128 KiB by default), not by the request size; only
 * root may raise it (/sys/class/bdi/<dev>/read_ahead_kb). Elsewhere reads stay 128 KiB each (documented).
 */
async function raiseReadAhead(mountpoint: string, logger: Logger): Promise<number | undefined> {
  const kb = MAX_REQUEST_BYTES / 1024;
  try {
    const st = await stat(mountpoint);
    const dev = `${Math.floor(st.dev / 256) & 0xfff}:${(st.dev & 0xff) | ((st.dev >> 12) & 0xfff00)}`;
    await writeFile(`/sys/class/bdi/${dev}/read_ahead_kb`, String(kb));
    return kb;
  } catch (err) {
    logger.debug(
      { err },
      'could not raise the read-ahead window (not root?): reads stay 128 KiB per request',
    );
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());
