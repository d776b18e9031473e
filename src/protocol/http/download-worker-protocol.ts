// Messages between the download worker (download-worker.ts) and its owner in the main thread (worker-downloads.ts).
// Every message names the exchange it belongs to; an exchange is one GET.
import type { HeaderMap } from '../headers';

export interface WorkerOptions {
  connections: number;
  /** TLS options for https origins (strings and booleans only: they cross a thread boundary). */
  tls: Record<string, unknown>;
  keepAliveTimeoutMs: number;
}

export type ToWorker =
  | { t: 'request'; id: number; url: string; headers: Record<string, string>; timeoutMs: number }
  /** Write the body to `fd` from `at`: drop its first `skip` bytes, stop after `limit` bytes. */
  | { t: 'file'; id: number; fd: number; at: number; skip: number; limit: number }
  /** Send the body's bytes to the main thread instead. */
  | { t: 'stream'; id: number }
  | { t: 'pause'; id: number }
  | { t: 'resume'; id: number }
  | { t: 'abort'; id: number };

export interface WorkerError {
  name: string;
  message: string;
  code?: string | undefined;
}

export type FromWorker =
  | { t: 'head'; id: number; status: number; headers: HeaderMap }
  /** `n` bytes written at `at` in file mode, with the lanes of their QuickXorHash (a hasher started at `at`). */
  | { t: 'progress'; id: number; at: number; n: number; lanes: Uint8Array }
  | { t: 'chunk'; id: number; data: Uint8Array }
  /** The exchange is over and the worker no longer touches its file descriptor. */
  | { t: 'end'; id: number }
  | { t: 'error'; id: number; error: WorkerError };
