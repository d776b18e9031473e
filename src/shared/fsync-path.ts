// fsync of a file or a folder named by path (a folder's fsync makes the names created in it durable).
import * as fs from 'node:fs';

export function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
