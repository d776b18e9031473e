// The options part of docs/CONFIGURATION.md, written from the options table (npm run docs:config); a test fails when
// the committed doc differs from what this writes.
import { MOUNT_OPTIONS, SETTING_KEYS } from './options-table';

export const GENERATED_BEGIN =
  '<!-- Generated from src/cli/options-table.ts by `npm run docs:config`; edit the table, not this part. -->';
export const GENERATED_END = '<!-- End of the generated part. -->';

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The markdown table of every `spfs mount` option. */
export function mountOptionsTable(): string {
  const rows = SETTING_KEYS.map((key) => {
    const s = MOUNT_OPTIONS[key];
    const flag = s.arg !== undefined ? `${s.flag} ${s.arg}` : s.flag;
    const o = s.arg !== undefined ? `${s.oName}=${s.arg}` : s.oName;
    return `| \`${flag}\` | \`${o}\` | \`${s.env}\` | ${cell(s.defaultText)} | ${cell(s.details ?? s.help)} |`;
  });
  return [
    '| flag | `-o` name and config key | environment | default | meaning |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** `doc` with its generated part (between the markers) replaced by the current table. */
export function withGeneratedOptions(doc: string): string {
  const begin = doc.indexOf(GENERATED_BEGIN);
  const end = doc.indexOf(GENERATED_END);
  if (begin < 0 || end < begin)
    throw new Error('docs/CONFIGURATION.md has lost the markers of its generated part');
  return `${doc.slice(0, begin)}${GENERATED_BEGIN}\n\n${mountOptionsTable()}\n\n${doc.slice(end)}`;
}
