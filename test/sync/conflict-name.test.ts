// conflictName: OneDrive's "keep both" names — stem, host, local date and time, extension kept last.
import { conflictName, isConflictName } from '../../src/sync/conflict-name';

describe('conflictName', () => {
  const when = new Date(2026, 0, 31, 14, 5, 59); // local time: 2026-01-31 14:05

  it('puts host and date before the extension', () => {
    expect(conflictName('report.docx', 'laptop', when)).toBe(
      'report (conflict from laptop 2026-01-31 1405).docx',
    );
  });

  it('keeps only the last extension after the marker', () => {
    expect(conflictName('archive.tar.gz', 'pc', when)).toBe(
      'archive.tar (conflict from pc 2026-01-31 1405).gz',
    );
  });

  it('treats names without an extension and dot-files as stems', () => {
    expect(conflictName('Makefile', 'pc', when)).toBe('Makefile (conflict from pc 2026-01-31 1405)');
    expect(conflictName('.bashrc', 'pc', when)).toBe('.bashrc (conflict from pc 2026-01-31 1405)');
  });

  it('replaces characters of the host name that SharePoint or a path would refuse', () => {
    expect(conflictName('a.txt', 'my host:1/x', when)).toBe(
      'a (conflict from my-host-1-x 2026-01-31 1405).txt',
    );
  });

  it('pads month, day, hour and minute', () => {
    expect(conflictName('a.txt', 'h', new Date(2026, 2, 4, 7, 8))).toBe(
      'a (conflict from h 2026-03-04 0708).txt',
    );
  });
});

describe('isConflictName (user.spfs.state conflict)', () => {
  const when = new Date(2026, 0, 31, 14, 5);

  it.each(['report.docx', 'archive.tar.gz', 'Makefile', '.bashrc', 'a.txt'])(
    'recognises what conflictName makes of %s, and not the name itself',
    (name) => {
      expect(isConflictName(conflictName(name, 'my host:1', when))).toBe(true);
      expect(isConflictName(name)).toBe(false);
    },
  );

  it('does not take a look-alike the user wrote for a conflict copy', () => {
    expect(isConflictName('notes (conflict from me).txt')).toBe(false);
    expect(isConflictName('a (conflict from pc 2026-01-31 1405) final.txt')).toBe(false);
  });
});
