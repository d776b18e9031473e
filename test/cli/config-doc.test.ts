// docs/CONFIGURATION.md's options table is what the options table writes (npm run docs:config), and `spfs mount
// --help` lists every option of the table with an example.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mountOptionsTable, withGeneratedOptions } from '../../src/cli/config-doc';
import { MOUNT_OPTIONS, SETTING_KEYS } from '../../src/cli/options-table';
import { assertE2EPrerequisites, runSpfs } from '../helpers/spfs-processes';

const DOC = join(__dirname, '..', '..', 'docs', 'CONFIGURATION.md');

describe('docs/CONFIGURATION.md', () => {
  it('holds the table as the options table writes it (run `npm run docs:config` after changing the table)', () => {
    const committed = readFileSync(DOC, 'utf8');
    expect(withGeneratedOptions(committed)).toBe(committed);
  });

  it('has one row per option naming its flag, -o name and variable', () => {
    const rows = mountOptionsTable().split('\n').slice(2);
    expect(rows).toHaveLength(SETTING_KEYS.length);
    for (const key of SETTING_KEYS) {
      const s = MOUNT_OPTIONS[key];
      expect(
        rows.some((r) => r.startsWith(`| \`${s.flag}`) && r.includes(`\`${s.oName}`) && r.includes(s.env)),
      ).toBe(true);
    }
  });
});

describe('spfs mount --help', () => {
  it('lists every option with its -o name and variable, the precedence and an example', async () => {
    assertE2EPrerequisites(); // runs the build, as a user would
    const r = await runSpfs(['mount', '--help']);
    expect(r.code).toBe(0);
    const out = r.stdout;
    const flat = out.replace(/\s+/g, ' ');
    for (const key of SETTING_KEYS) {
      const s = MOUNT_OPTIONS[key];
      expect(flat).toContain(s.flag);
      expect(flat).toContain(`-o ${s.oName}, ${s.env}`);
    }
    expect(flat).toContain('flags > -o > SPFS_* environment > profile');
    expect(out).toMatch(/Examples:\n {2}spfs mount https:\/\//);
  });
});
