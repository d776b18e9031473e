// Errors the CLI reports as one clear line and a non-zero exit code, without a stack trace.
import { SpfsError } from '../shared/errors';

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  unreachable: 3,
  auth: 4,
  fuseMissing: 5,
  mountpoint: 6,
} as const;

export class UsageError extends SpfsError {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super('USAGE', message);
  }
}
