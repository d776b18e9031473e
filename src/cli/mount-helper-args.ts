// The argv util-linux gives mount and umount helpers (mount.TYPE SOURCE DIR [-sfnv] [-N NS] [-o OPTS] [-t TYPE];
// umount.TYPE DIR [-flnrv] [-N NS] [-t TYPE]), turned into `spfs mount` / `spfs unmount` arguments.

export interface HelperArgs {
  spfsArgs: string[];
  /** mount -f: pretend, mount nothing. */
  fake: boolean;
}

/** Flags taking a value, and which `-o` is; every other single-letter flag is mount(8)'s and means nothing here. */
function split(
  argv: readonly string[],
  withValue: string,
): { positional: string[]; values: Map<string, string[]>; flags: Set<string> } | string {
  const positional: string[] = [];
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    const letters = a.slice(1);
    for (let j = 0; j < letters.length; j++) {
      const f = letters[j] ?? '';
      if (!withValue.includes(f)) {
        flags.add(f);
        continue;
      }
      // -oOPTS or -o OPTS
      const rest = letters.slice(j + 1);
      const value = rest !== '' ? rest : argv[++i];
      if (value === undefined) return `-${f} needs a value`;
      values.set(f, [...(values.get(f) ?? []), value]);
      break;
    }
  }
  return { positional, values, flags };
}

export function mountHelperArgs(argv: readonly string[]): HelperArgs | string {
  const s = split(argv, 'oNt');
  if (typeof s === 'string') return s;
  const [source, dir, ...extra] = s.positional;
  if (source === undefined || dir === undefined || extra.length > 0) return 'expected SOURCE and DIR';
  const opts = s.values.get('o') ?? [];
  return { spfsArgs: ['mount', source, dir, ...opts.flatMap((o) => ['-o', o])], fake: s.flags.has('f') };
}

export function umountHelperArgs(argv: readonly string[]): HelperArgs | string {
  const s = split(argv, 'Nt');
  if (typeof s === 'string') return s;
  const [dir, ...extra] = s.positional;
  if (dir === undefined || extra.length > 0) return 'expected DIR';
  // -f (force, mount(8)'s meaning for an unreachable server): detach without waiting for uploads.
  return { spfsArgs: ['unmount', dir, ...(s.flags.has('f') ? ['--force'] : [])], fake: false };
}
