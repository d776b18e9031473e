// Base class of every typed error in spfs: a stable machine code and an optional cause. Never match on messages.

export class SpfsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Rejected input: a name, path or argument that can never be valid. */
export class InvalidInputError extends SpfsError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EINVALIDINPUT', message, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
