// Structured logging through pino (a maintained, fast JSON logger). Credentials are redacted by key name so that
// an auth header or a password can't reach a log line even by mistake.
import pino from 'pino';

export type Logger = pino.Logger;

const REDACT = [
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'cookie',
  '*.cookie',
];

export interface LoggerOptions {
  level?: string;
  /** Where to write: a file path, or undefined for stderr. */
  file?: string;
  name?: string;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const dest = opts.file
    ? pino.destination({ dest: opts.file, mkdir: true, sync: false })
    : pino.destination(2);
  return pino(
    {
      name: opts.name ?? 'spfs',
      level: opts.level ?? process.env.SPFS_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    dest,
  );
}

/** A logger that drops everything; for unit tests and library use without output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
