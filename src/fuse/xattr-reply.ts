// How both adapters answer getxattr and listxattr: a caller with no room asks for the size; one with too little room
// gets ERANGE (getfattr then asks for the size again); otherwise the bytes.
import { FsError } from '../vfs/errors';

/** 'size' for a size probe (room 0), 'bytes' when the value fits; ERANGE otherwise. */
export function fitXattr(value: Buffer, room: number): 'size' | 'bytes' {
  if (room === 0) return 'size';
  if (value.length > room)
    throw new FsError('ERANGE', `attribute of ${value.length} bytes, room for ${room}`);
  return 'bytes';
}

/** listxattr's value: every name followed by a NUL. */
export function xattrList(names: readonly string[]): Buffer {
  return Buffer.from(names.map((n) => `${n}\0`).join(''));
}
