// Parses a size given on the command line: plain bytes or a K/M/G/T suffix (powers of 1024), e.g. `512M`, `10G`.
import { UsageError } from './usage-error';

const UNITS: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export function parseSize(text: string, option: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  const unit = m ? UNITS[(m[2] ?? '').toUpperCase()] : undefined;
  if (!m || unit === undefined)
    throw new UsageError(`${option}: not a size: ${JSON.stringify(text)} (e.g. 512M, 10G)`);
  return Math.floor(Number(m[1]) * unit);
}
