// Stable inode numbers for the items the kernel has seen: the root is 1, every other item gets the next number on
// first sight and keeps it when the server assigns its ResourceID (re-key), so an inode-based adapter (libfuse3's
// low-level API) can address items by the number the kernel holds. Numbers are never reused within a mount.
import type { ItemId } from '../shared/ids';

export const ROOT_INO = 1;

export class InodeTable {
  private readonly byId = new Map<ItemId, number>();
  private readonly byIno = new Map<number, ItemId>();
  private next = ROOT_INO + 1;

  constructor(private readonly rootId: () => ItemId | undefined) {}

  inoOf(id: ItemId): number {
    if (id === this.rootId()) return ROOT_INO;
    let ino = this.byId.get(id);
    if (ino === undefined) {
      ino = this.next++;
      this.byId.set(id, ino);
      this.byIno.set(ino, id);
    }
    return ino;
  }

  /** The number `id` has, without giving it one. */
  peek(id: ItemId): number | undefined {
    return id === this.rootId() ? ROOT_INO : this.byId.get(id);
  }

  idOf(ino: number): ItemId | undefined {
    return ino === ROOT_INO ? this.rootId() : this.byIno.get(ino);
  }

  /**
   * A rename over `targetId` kept the target's item and dropped the source's (saving by rename-over): the kernel's
   * dentry now names the source's inode, so the target takes that number; its old one is gone, as a replaced
   * file's inode is.
   */
  takeOver(sourceId: ItemId, targetId: ItemId): void {
    const ino = this.byId.get(sourceId);
    if (ino === undefined) return;
    const old = this.byId.get(targetId);
    if (old !== undefined) this.byIno.delete(old);
    this.byId.delete(sourceId);
    this.byId.set(targetId, ino);
    this.byIno.set(ino, targetId);
  }

  /** The item took the server's id: same inode. */
  rekey(oldId: ItemId, newId: ItemId): void {
    const ino = this.byId.get(oldId);
    if (ino === undefined) return;
    this.byId.delete(oldId);
    this.byId.set(newId, ino);
    this.byIno.set(ino, newId);
  }
}
