// Waiting for something a daemon does in the background (a remote change applied, an upload landed) without timing
// assertions: poll until the probe answers, or fail after a generous deadline saying what never happened.
import { readFileSync } from 'node:fs';

export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`not seen within ${timeoutMs} ms: ${what} (${String(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A file's text, or undefined while it does not exist (or can't be read yet). */
export function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
