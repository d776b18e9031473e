// Reads a response body as batches of the chunks that arrived since the consumer last asked: one await per batch
// instead of several promises per 64 KiB chunk (async iteration of a stream), which was the largest piece of a
// cold read's CPU after hashing. The chunks are passed on as they are, never copied.
import type { Readable } from 'node:stream';
import type { DownloadStream } from '../types';

/** Bytes held before the body is paused until the consumer takes them. */
const DEFAULT_HIGH_WATER_BYTES = 8 * 1024 * 1024;

export async function* readBatches(
  body: Readable,
  highWaterBytes = DEFAULT_HIGH_WATER_BYTES,
): AsyncGenerator<Uint8Array[]> {
  let batch: Uint8Array[] = [];
  let bytes = 0;
  let ended = false;
  let failure: { err: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Uint8Array): void => {
    batch.push(chunk);
    bytes += chunk.length;
    if (bytes >= highWaterBytes) body.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onError = (err: unknown): void => {
    failure ??= { err };
    notify();
  };
  body.on('data', onData);
  body.on('end', onEnd);
  // A close without 'end' (destroyed mid-body) ends the batches; the caller's byte count tells a short body.
  body.on('close', onEnd);
  body.on('error', onError);
  try {
    for (;;) {
      if (batch.length > 0) {
        const out = batch;
        batch = [];
        bytes = 0;
        if (body.isPaused()) body.resume();
        yield out;
        continue;
      }
      if (failure !== undefined) throw failure.err;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('close', onEnd);
    body.off('error', onError);
  }
}

/** The chunks of a batch stream one by one (for consumers that want a plain byte stream). */
export async function* flattenBatches(
  batches: AsyncIterable<readonly Uint8Array[]>,
): AsyncGenerator<Uint8Array> {
  for await (const b of batches) yield* b;
}

/** A DownloadStream over `batches`, whose `body` is the same bytes chunk by chunk (one source: consume either). */
export function downloadStreamOf(parts: {
  status: number;
  batches: AsyncIterable<readonly Uint8Array[]>;
  abort: () => void;
  totalSize?: number | undefined;
  etag?: string | undefined;
  release?: ((chunks: readonly Uint8Array[]) => void) | undefined;
  writeTo?: DownloadStream['writeTo'] | undefined;
}): DownloadStream {
  const { status, batches, abort, totalSize, etag, release, writeTo } = parts;
  const stream: DownloadStream = { status, batches, body: flattenBatches(batches), abort };
  if (totalSize !== undefined) stream.totalSize = totalSize;
  if (etag) stream.etag = etag;
  if (release !== undefined) stream.release = release;
  if (writeTo !== undefined) stream.writeTo = writeTo;
  return stream;
}
