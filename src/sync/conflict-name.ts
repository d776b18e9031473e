// OneDrive's "keep both" naming: the local version of a conflicting file is uploaded next to the server's version
// as `name (conflict from <host> <YYYY-MM-DD HHMM>).ext`.

/** `report.docx` → `report (conflict from laptop 2026-01-31 1405).docx`; dot-files and extensionless names too. */
export function conflictName(name: string, host: string, when: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  const stamp =
    `${when.getFullYear()}-${p(when.getMonth() + 1)}-${p(when.getDate())} ` +
    `${p(when.getHours())}${p(when.getMinutes())}`;
  const safeHost = host.replace(/[^A-Za-z0-9_-]/g, '-');
  const dot = name.lastIndexOf('.');
  const hasExt = dot > 0;
  const stem = hasExt ? name.slice(0, dot) : name;
  const ext = hasExt ? name.slice(dot) : '';
  return `${stem} (conflict from ${safeHost} ${stamp})${ext}`;
}

/** The `(conflict from <host> <YYYY-MM-DD HHMM>)` mark conflictName puts before the extension. */
const CONFLICT_MARK = / \(conflict from [A-Za-z0-9_-]+ \d{4}-\d{2}-\d{2} \d{4}\)(\.[^.]*)?$/;

/** Whether a name is one conflictName made (the file shows `user.spfs.state` conflict until it is renamed). */
export function isConflictName(name: string): boolean {
  return CONFLICT_MARK.test(name);
}
