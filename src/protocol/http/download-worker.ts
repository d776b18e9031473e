// The download worker: a thread that runs the direct client's GETs (direct-get.ts) and, for cache fills, writes the
// bodies straight into the cache file and hashes them, reporting what landed. Off the main thread, a 32 MiB fetch
// streaming in at loopback speed no longer holds up the FUSE replies a reader is waiting for (+25-40 % on a cold
// read, docs/BENCHMARKS.md). The main thread (worker-downloads.ts) keeps every decision: headers, auth, status,
// retries, which ranges to fetch and when a file is complete.
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { QuickXorHash } from '../../shared/quickxorhash';
import { DirectGetClient, type DirectBody } from './direct-get';
import type { FromWorker, ToWorker, WorkerError, WorkerOptions } from './download-worker-protocol';

/** Progress is reported once this much landed, or at the end of the turn that wrote less. */
const PROGRESS_BYTES = 256 * 1024;

const port = parentPort;
if (port === null) throw new Error('download-worker.ts runs as a worker thread');
const opts = workerData as WorkerOptions;
const client = new DirectGetClient({
  connections: opts.connections,
  tls: opts.tls,
  keepAliveTimeoutMs: opts.keepAliveTimeoutMs,
});

interface Exchange {
  body?: DirectBody;
  controller: AbortController;
  done: boolean;
}
const exchanges = new Map<number, Exchange>();

function post(m: FromWorker, transfer?: ArrayBuffer[]): void {
  port?.postMessage(m, transfer);
}

function describe(err: unknown): WorkerError {
  const e = err as { name?: unknown; message?: unknown; code?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : String(err),
    code: typeof e?.code === 'string' ? e.code : undefined,
  };
}

function finish(id: number, err?: unknown): void {
  const ex = exchanges.get(id);
  if (ex === undefined || ex.done) return;
  ex.done = true;
  exchanges.delete(id);
  if (ex.body !== undefined) {
    ex.body.removeAllListeners('data');
    if (!ex.body.readableEnded) {
      ex.body.on('error', () => undefined);
      ex.body.destroy();
    }
  }
  post(err === undefined ? { t: 'end', id } : { t: 'error', id, error: describe(err) });
}

function request(m: Extract<ToWorker, { t: 'request' }>): void {
  const ex: Exchange = { controller: new AbortController(), done: false };
  exchanges.set(m.id, ex);
  client
    .request({
      url: new URL(m.url),
      headers: m.headers,
      signal: ex.controller.signal,
      timeoutMs: m.timeoutMs,
    })
    .then(
      (res) => {
        if (ex.done) {
          res.body.on('error', () => undefined);
          res.body.destroy();
          return;
        }
        ex.body = res.body;
        res.body.pause(); // until the owner says where the bytes go
        res.body.once('error', (err) => finish(m.id, err));
        post({ t: 'head', id: m.id, status: res.status, headers: res.headers });
      },
      (err: unknown) => finish(m.id, err),
    );
}

/** File mode: every byte written with a positional write here, hashed, reported, and its buffer given back. */
function toFile(m: Extract<ToWorker, { t: 'file' }>): void {
  const ex = exchanges.get(m.id);
  const body = ex?.body;
  if (ex === undefined || body === undefined) return;
  let skip = m.skip;
  let left = m.limit;
  let pos = m.at;
  let from = pos;
  let hash = QuickXorHash.startingAt(pos);
  let flushQueued = false;
  const flush = (): void => {
    flushQueued = false;
    if (pos === from || ex.done) return;
    post({ t: 'progress', id: m.id, at: from, n: pos - from, lanes: hash.laneBytes() });
    from = pos;
    hash = QuickXorHash.startingAt(pos);
  };
  body.on('data', (chunk: Buffer) => {
    let part: Uint8Array = chunk;
    if (skip > 0) {
      const drop = Math.min(skip, part.length);
      skip -= drop;
      part = part.subarray(drop);
    }
    if (part.length > left) part = part.subarray(0, left);
    try {
      for (let done = 0; done < part.length;)
        done += writeSync(m.fd, part, done, part.length - done, pos + done);
    } catch (err) {
      flush();
      finish(m.id, err);
      return;
    }
    hash.update(part);
    pos += part.length;
    left -= part.length;
    client.release([chunk]);
    if (left === 0) {
      flush();
      finish(m.id);
    } else if (pos - from >= PROGRESS_BYTES) {
      flush();
    } else if (!flushQueued) {
      flushQueued = true;
      setImmediate(flush);
    }
  });
  body.once('end', () => {
    flush();
    finish(m.id);
  });
  body.resume();
}

/** Stream mode: the bytes go to the main thread (copied into transferable buffers); pause/resume follow its pace. */
function toMain(m: Extract<ToWorker, { t: 'stream' }>): void {
  const ex = exchanges.get(m.id);
  const body = ex?.body;
  if (ex === undefined || body === undefined) return;
  body.on('data', (chunk: Buffer) => {
    const data = Uint8Array.from(chunk);
    client.release([chunk]);
    post({ t: 'chunk', id: m.id, data }, [data.buffer]);
  });
  body.once('end', () => finish(m.id));
  body.resume();
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'request':
      request(m);
      break;
    case 'file':
      toFile(m);
      break;
    case 'stream':
      toMain(m);
      break;
    case 'pause':
      exchanges.get(m.id)?.body?.pause();
      break;
    case 'resume':
      exchanges.get(m.id)?.body?.resume();
      break;
    case 'abort': {
      const ex = exchanges.get(m.id);
      ex?.controller.abort();
      finish(m.id, Object.assign(new Error('aborted'), { name: 'AbortError' }));
      break;
    }
  }
});
