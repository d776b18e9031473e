// What identifies one version of an upload's local file: taken before it is hashed, compared after its bytes were
// read for sending. Any write, truncate or replacement moves the change time (nanoseconds), so equal stamps mean
// every byte read in between came from the version that was hashed.
import { promises as fsp } from 'node:fs';
import { LocalSourceChangedError } from './errors';

export interface SourceStamp {
  readonly ino: bigint;
  readonly size: bigint;
  readonly ctimeNs: bigint;
}

async function statOf(path: string): Promise<SourceStamp> {
  try {
    const s = await fsp.stat(path, { bigint: true });
    return { ino: s.ino, size: s.size, ctimeNs: s.ctimeNs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new LocalSourceChangedError(path, 'was removed', { cause: err });
    throw err;
  }
}

export function stampOf(path: string): Promise<SourceStamp> {
  return statOf(path);
}

/** Throws LocalSourceChangedError when `path` is no longer the version `stamp` names. */
export async function assertUnchanged(path: string, stamp: SourceStamp): Promise<void> {
  const now = await statOf(path);
  if (now.ino !== stamp.ino || now.size !== stamp.size || now.ctimeNs !== stamp.ctimeNs)
    throw new LocalSourceChangedError(path, 'changed');
}
