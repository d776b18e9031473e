// Sizes as people write them in flags and config files: bytes with an optional K/M/G/T suffix (powers of 1024).
import { InvalidInputError } from '../shared/errors';

const UNITS: Readonly<Record<string, number>> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** `4096`, `4K`, `1.5M`, `10GiB` → bytes (floored). Throws InvalidInputError naming `what` otherwise. */
export function parseSizeText(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  const unit = m ? UNITS[(m[2] ?? '').toUpperCase()] : undefined;
  if (!m || unit === undefined)
    throw new InvalidInputError(`${what}: not a size: ${JSON.stringify(text)} (e.g. 4K, 512M, 10G)`);
  return Math.floor(Number(m[1]) * unit);
}
