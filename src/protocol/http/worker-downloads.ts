// The main thread's side of the download worker (download-worker.ts): sends a GET there, resolves with its head,
// and hands back a body that either streams its bytes here (any consumer) or, for cache fills, is written into a
// file descriptor by the worker itself (`writeTo`), which reports each landed range with its hash lanes.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { ProtocolError, TruncatedBodyError } from '../errors';
import type { HeaderMap } from '../headers';
import type { DirectGetRequest } from './direct-get';
import type { FromWorker, ToWorker, WorkerError, WorkerOptions } from './download-worker-protocol';

/** Called as bytes land in the file: `n` bytes at `at`, and the lanes of their QuickXorHash. */
export type LandedBytes = (at: number, n: number, lanes: Uint8Array) => void;

/** The compiled worker next to this module, when there is one (not under ts-jest, which runs the sources). */
export function compiledWorkerScript(): string | undefined {
  const script = path.join(__dirname, 'download-worker.js');
  return __filename.endsWith('.js') && existsSync(script) ? script : undefined;
}

/** Rebuilds a worker's error with the class or `code` the transport's error mapping understands. */
function revive(e: WorkerError): Error {
  if (e.name === 'TruncatedBodyError') return new TruncatedBodyError(e.message);
  if (e.name === 'ProtocolError') return new ProtocolError(e.message);
  const err = new Error(e.message);
  err.name = e.name;
  return e.code === undefined ? err : Object.assign(err, { code: e.code });
}

/** A body whose bytes are still in the worker: readable here, or written to a file there by writeTo(). */
export class WorkerBody extends Readable {
  private mode: 'idle' | 'stream' | 'file' | 'over' = 'idle';
  private paused = false;
  private fileDone: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private onLanded: LandedBytes | undefined;
  private abortReason: Error | undefined;

  constructor(
    private readonly owner: WorkerDownloads,
    readonly id: number,
  ) {
    super({ highWaterMark: 4 * 1024 * 1024 });
  }

  override _read(): void {
    if (this.mode === 'idle') {
      this.mode = 'stream';
      this.owner.send({ t: 'stream', id: this.id });
    } else if (this.paused) {
      this.paused = false;
      this.owner.send({ t: 'resume', id: this.id });
    }
  }

  /** Has the worker write the body to `fd` from `at` (after dropping `skip` bytes, at most `limit` bytes). */
  writeTo(fd: number, at: number, skip: number, limit: number, onLanded: LandedBytes): Promise<void> {
    if (this.mode !== 'idle') return Promise.reject(new Error('body already being consumed'));
    this.mode = 'file';
    this.onLanded = onLanded;
    return new Promise<void>((resolve, reject) => {
      this.fileDone = { resolve, reject };
      this.owner.send({ t: 'file', id: this.id, fd, at, skip, limit });
    });
  }

  /** Drops the rest (the connection closes; the worker does not read on to reuse it). */
  dump(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.mode !== 'over') {
      this.owner.send({ t: 'abort', id: this.id });
      if (this.mode !== 'file') this.over();
    }
    cb(err);
  }

  /** A message of this exchange after its head. */
  receive(m: FromWorker): void {
    switch (m.t) {
      case 'progress':
        this.onLanded?.(m.at, m.n, m.lanes);
        break;
      case 'chunk':
        if (!this.push(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length)) && !this.paused) {
          this.paused = true;
          this.owner.send({ t: 'pause', id: this.id });
        }
        break;
      case 'end': {
        const streaming = this.mode === 'stream';
        this.fileDone?.resolve();
        this.over();
        if (streaming) this.push(null);
        break;
      }
      case 'error':
        this.failed(revive(m.error));
        break;
      default:
        break;
    }
  }

  /**
   * Ends the body with `err` (an abort here). A stream consumer gets it as its 'error'; writeTo() rejects with it
   * once the worker confirms it stopped writing. A body nobody reads as a stream is only destroyed: an 'error' event
   * without a listener would take the process down.
   */
  fail(err: Error): void {
    if (this.mode === 'file') {
      this.abortReason ??= err;
      this.owner.send({ t: 'abort', id: this.id });
      return;
    }
    const streaming = this.mode === 'stream';
    this.over();
    if (!this.destroyed) {
      if (streaming) this.destroy(err);
      else this.destroy();
    }
  }

  /** The worker ended the exchange with an error (after it stopped writing). */
  private failed(err: Error): void {
    if (this.mode === 'file') {
      this.fileDone?.reject(this.abortReason ?? err);
      this.over();
      if (!this.destroyed) this.destroy();
      return;
    }
    this.fail(err);
  }

  private over(): void {
    this.mode = 'over';
    this.fileDone = undefined;
    this.owner.forget(this.id);
  }
}

export class WorkerDownloads {
  private started: Worker | undefined;
  private seq = 0;
  private readonly heads = new Map<number, (m: FromWorker) => void>();
  private readonly bodies = new Map<number, WorkerBody>();
  private failure: Error | undefined;

  constructor(
    private readonly script: string,
    private readonly opts: WorkerOptions,
  ) {
    // Started now, not at the first download: booting the thread takes ~80 ms, which a first open would wait for.
    void this.worker;
  }

  /** The thread (restarted never: after a failure every request fails). */
  private get worker(): Worker {
    if (this.started !== undefined) return this.started;
    const w = new Worker(this.script, { workerData: this.opts });
    w.unref(); // an idle worker never keeps the process alive
    w.on('message', (m: FromWorker) => {
      const body = this.bodies.get(m.id);
      if (body !== undefined) body.receive(m);
      else this.heads.get(m.id)?.(m);
    });
    w.on('error', (err) => this.failAll(err));
    w.on('exit', (code) => this.failAll(new Error(`download worker exited (${code})`)));
    this.started = w;
    return w;
  }

  /** One GET; resolves at the head like DirectGetClient.request(), rejects with socket-shaped errors. */
  request(req: DirectGetRequest): Promise<{ status: number; headers: HeaderMap; body: WorkerBody }> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    req.signal?.throwIfAborted();
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.heads.delete(id);
        this.send({ t: 'abort', id });
        reject(req.signal?.reason instanceof Error ? req.signal.reason : new Error('aborted'));
      };
      this.heads.set(id, (m) => {
        this.heads.delete(id);
        req.signal?.removeEventListener('abort', onAbort);
        if (m.t === 'head') {
          const body = new WorkerBody(this, id);
          this.bodies.set(id, body);
          // An abort after the head ends the body (and so the worker's exchange) with the abort's reason.
          const onBodyAbort = (): void => {
            body.fail(req.signal?.reason instanceof Error ? req.signal.reason : new Error('aborted'));
          };
          req.signal?.addEventListener('abort', onBodyAbort, { once: true });
          body.once('close', () => req.signal?.removeEventListener('abort', onBodyAbort));
          resolve({ status: m.status, headers: m.headers, body });
        } else if (m.t === 'error') {
          reject(revive(m.error));
        }
      });
      req.signal?.addEventListener('abort', onAbort, { once: true });
      this.send({ t: 'request', id, url: req.url.href, headers: req.headers, timeoutMs: req.timeoutMs });
    });
  }

  send(m: ToWorker): void {
    if (this.failure === undefined) this.worker.postMessage(m);
  }

  forget(id: number): void {
    this.bodies.delete(id);
  }

  async close(): Promise<void> {
    this.failure ??= new Error('download worker closed');
    await this.started?.terminate();
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    const error = {
      name: 'Error',
      message: `download worker failed: ${err.message}`,
      code: 'UND_ERR_SOCKET',
    };
    for (const [id, h] of [...this.heads]) h({ t: 'error', id, error });
    this.heads.clear();
    for (const b of [...this.bodies.values()]) b.receive({ t: 'error', id: b.id, error });
  }
}
