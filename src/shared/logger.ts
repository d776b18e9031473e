// Structured logging through pino (a maintained, fast JSON logger). Credentials are redacted by key name so that
// an auth header or a password can't reach a log line even by mistake. A daemon's log file rotates by size
// (rotating-file-stream, logrotate style: spfs.log, spfs.log.1, ...), and a terminal gets readable lines
// (pino-pretty) next to the file.
import { finished, Writable } from 'node:stream';
import pino from 'pino';
import pretty from 'pino-pretty';
import { createStream } from 'rotating-file-stream';
import { basename, dirname } from 'node:path';

export type Logger = pino.Logger;

const SECRET_KEYS = ['password', 'authorization', 'cookie', 'token', 'accessToken', 'secret'];
const REDACT = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  ...SECRET_KEYS.map((k) => `*.*.${k}`),
  'headers["set-cookie"]',
  '*.headers["set-cookie"]',
];

/** Size at which the daemon's log file is rotated, and how many rotated files are kept (bounded disk use). */
export const LOG_ROTATE_BYTES = 10 * 1024 * 1024;
export const LOG_ROTATED_FILES = 4;

export interface LoggerOptions {
  level?: string;
  /** Where to write: a file path, or undefined for stderr. */
  file?: string;
  name?: string;
  /** Rotate `file` once it reaches this size (bytes); default LOG_ROTATE_BYTES. */
  rotateBytes?: number;
  /** Rotated files kept next to `file`; default LOG_ROTATED_FILES. */
  rotatedFiles?: number;
  /** Also write to the terminal (stderr): readable lines when it is a TTY, JSON lines otherwise. */
  terminal?: boolean;
}

/** Closes a logger's file stream (waits until every line is on disk). */
const closers = new WeakMap<Logger, () => Promise<void>>();

function rotatingFile(file: string, bytes: number, files: number): Writable {
  return new ReopeningStream(() =>
    createStream(basename(file), {
      path: dirname(file),
      size: `${Math.max(1, Math.floor(bytes / 1024))}K`,
      rotate: files,
      mode: 0o600,
    }),
  );
}

/** After a failed write, lines are dropped for this long before the file is opened again. */
const REOPEN_AFTER_MS = 1000;

/**
 * A log file that outlives a failed write (a full disk): the file stream destroys itself on its first error, and an
 * unhandled 'error' would end the daemon. Here the error drops the stream, lines are dropped for a moment, and the
 * next line opens the file again, so logging resumes once space is freed.
 */
class ReopeningStream extends Writable {
  private inner: Writable | undefined;
  private failedAtMs = -Infinity;

  constructor(private readonly open: () => Writable) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.inner === undefined && Date.now() - this.failedAtMs >= REOPEN_AFTER_MS) {
      const s = this.open();
      s.on('error', () => {
        if (this.inner === s) this.inner = undefined;
        this.failedAtMs = Date.now();
        s.destroy();
      });
      this.inner = s;
    }
    this.inner?.write(chunk);
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    const s = this.inner;
    if (s === undefined) return done();
    // Called on error too: a close must not wait forever for a file that cannot be written.
    finished(s, () => done());
    s.end();
  }
}

function terminalStream(): pino.DestinationStream {
  return process.stderr.isTTY
    ? pretty({ destination: 2, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,name' })
    : pino.destination(2);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? process.env.SPFS_LOG_LEVEL ?? 'info';
  const file = opts.file
    ? rotatingFile(opts.file, opts.rotateBytes ?? LOG_ROTATE_BYTES, opts.rotatedFiles ?? LOG_ROTATED_FILES)
    : undefined;
  const streams: pino.StreamEntry[] = [];
  if (file) streams.push({ level: 'trace', stream: file });
  if (opts.terminal || !file)
    streams.push({ level: 'trace', stream: file ? terminalStream() : pino.destination(2) });
  const logger = pino(
    { name: opts.name ?? 'spfs', level, redact: { paths: REDACT, censor: '[redacted]' } },
    streams.length === 1 ? streams[0]!.stream : pino.multistream(streams),
  );
  if (file)
    closers.set(
      logger,
      () =>
        new Promise<void>((resolve) => {
          file.end(() => resolve());
        }),
    );
  return logger;
}

/** Flushes and closes the logger's file; lines logged afterwards are dropped. */
export async function closeLogger(logger: Logger): Promise<void> {
  logger.flush();
  await closers.get(logger)?.();
}

/** A logger that drops everything; for unit tests and library use without output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
