import { KernelInodes } from '../../src/fuse/kernel-inodes';

describe('KernelInodes (what the kernel holds, for invalidation by inode)', () => {
  it('counts lookups and forgets: an inode is held until every reference is forgotten', () => {
    const k = new KernelInodes();
    k.looked(5, 1, 'a.txt');
    k.looked(5, 1, 'a.txt');
    expect(k.lookups(5)).toBe(2);
    k.forget(5, 1);
    expect(k.held(5)).toBe(true);
    k.forget(5, 1);
    expect(k.held(5)).toBe(false);
    expect(k.nameOf(5)).toBeUndefined();
    expect(k.size).toBe(0);
  });

  it('a batch forget larger than the count drops the inode (never a negative count)', () => {
    const k = new KernelInodes();
    k.looked(7, 1, 'x');
    k.forget(7, 10);
    expect(k.lookups(7)).toBe(0);
    k.looked(7, 1, 'x');
    expect(k.lookups(7)).toBe(1);
  });

  it('keeps the last name given and follows renames', () => {
    const k = new KernelInodes();
    k.looked(9, 1, 'old');
    k.moved(9, 3, 'new');
    expect(k.nameOf(9)).toEqual({ parent: 3, name: 'new' });
    k.looked(9, 4, 'again');
    expect(k.nameOf(9)).toEqual({ parent: 4, name: 'again' });
    expect(k.lookups(9)).toBe(2);
  });

  it('a rename of an inode the kernel does not hold records nothing', () => {
    const k = new KernelInodes();
    k.moved(4, 1, 'n');
    expect(k.nameOf(4)).toBeUndefined();
    expect(k.all()).toEqual([]);
  });

  it('an inode unlinked while held keeps its last name: invalidating it drops that dentry too, once', () => {
    const k = new KernelInodes();
    k.looked(2, 1, 'same'); // then unlinked, still open
    k.looked(3, 1, 'same'); // a new file at the name
    expect(k.invalidations([{ ino: 2, now: undefined }])).toEqual([
      { kind: 'inode', ino: 2 },
      { kind: 'entry', parent: 1, name: 'same' },
    ]);
    expect(k.all().sort()).toEqual([2, 3]);
  });

  describe('invalidations for the items a change touched', () => {
    it('an inode the kernel holds: its attributes and pages, and the name it knows it by', () => {
      const k = new KernelInodes();
      k.looked(5, 1, 'old.txt');
      expect(k.invalidations([{ ino: 5, now: { parent: 1, name: 'new.txt' } }])).toEqual([
        { kind: 'inode', ino: 5 },
        { kind: 'entry', parent: 1, name: 'old.txt' },
        { kind: 'entry', parent: 1, name: 'new.txt' }, // a "no such name" may be cached there
      ]);
    });

    it('a new item under a folder the kernel holds (or the root): its name, where "no such name" may be cached', () => {
      const k = new KernelInodes();
      k.looked(3, 1, 'Docs');
      expect(k.invalidations([{ ino: undefined, now: { parent: 3, name: 'created.txt' } }])).toEqual([
        { kind: 'entry', parent: 3, name: 'created.txt' },
      ]);
      expect(k.invalidations([{ ino: undefined, now: { parent: 1, name: 'top.txt' } }])).toEqual([
        { kind: 'entry', parent: 1, name: 'top.txt' },
      ]);
    });

    it('a folder whose listing changed: its inode only (its cached listing), never its dentry; once, if held', () => {
      const k = new KernelInodes();
      k.looked(3, 1, 'Docs');
      k.looked(5, 3, 'a.txt');
      expect(
        k.invalidations([{ ino: undefined, now: { parent: 3, name: 'new.txt' } }], [3, 3, 1, 77]),
      ).toEqual([
        { kind: 'entry', parent: 3, name: 'new.txt' },
        { kind: 'inode', ino: 3 },
        { kind: 'inode', ino: 1 }, // the root is always held; 77 never was
      ]);
      // A folder that is itself touched is invalidated once.
      expect(k.invalidations([{ ino: 3, now: { parent: 1, name: 'Docs' } }], [3])).toEqual([
        { kind: 'inode', ino: 3 },
        { kind: 'entry', parent: 1, name: 'Docs' },
      ]);
    });

    it('a folder changed in place: its inode only, so a process working in it keeps its directory; renamed or gone: its name too', () => {
      const k = new KernelInodes();
      k.looked(3, 1, 'Docs');
      expect(k.invalidations([{ ino: 3, now: { parent: 1, name: 'Docs' }, folder: true }])).toEqual([
        { kind: 'inode', ino: 3 },
      ]);
      expect(k.invalidations([{ ino: 3, now: { parent: 1, name: 'Papers' }, folder: true }])).toEqual([
        { kind: 'inode', ino: 3 },
        { kind: 'entry', parent: 1, name: 'Docs' },
        { kind: 'entry', parent: 1, name: 'Papers' },
      ]);
      expect(k.invalidations([{ ino: 3, now: undefined }])).toEqual([
        { kind: 'inode', ino: 3 },
        { kind: 'entry', parent: 1, name: 'Docs' },
      ]);
    });

    it('nothing for what the kernel never saw or has forgotten; each dentry once', () => {
      const k = new KernelInodes();
      k.looked(8, 1, 'gone');
      k.forget(8, 1);
      expect(
        k.invalidations([
          { ino: 8, now: undefined },
          { ino: 9, now: { parent: 42, name: 'x' } },
        ]),
      ).toEqual([]);
      k.looked(4, 1, 'a');
      expect(k.invalidations([{ ino: 4, now: { parent: 1, name: 'a' } }])).toEqual([
        { kind: 'inode', ino: 4 },
        { kind: 'entry', parent: 1, name: 'a' },
      ]);
      expect(k.held(1)).toBe(true); // the root is never looked up nor forgotten
    });
  });
});
