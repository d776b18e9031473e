// E8 writes: batches of creates/updates/renames/moves/deletes/touches with per-item results, inline multipart
// uploads streamed from disk or BITS sessions for large files. A lost response never leads to a blind re-POST:
// each op is first looked up (parent + name, or the item's ETag/hash) and only ops that provably did not happen
// are sent again, so a retried create never makes a duplicate.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { InvalidInputError } from '../shared/errors';
import type { ItemId } from '../shared/ids';
import { assertSafeName, foldName } from '../shared/names';
import { QuickXorHash } from '../shared/quickxorhash';
import { bitsUpload, type BitsSession } from './bits-upload';
import { HttpStatusError, NetworkError, NotFoundError, ThrottledError } from './errors';
import { multipartRelated, type BinaryPart } from './http/multipart';
import { assertUnchanged, stampOf } from './source-stamp';
import { MAX_ATTEMPTS, retryDelayMs } from './http/retry';
import { XML_ACCEPT, type SpSession } from './sp-session';
import type {
  ChildrenPage,
  ChildrenQuery,
  RemoteItem,
  UploadSource,
  WriteOp,
  WriteOptions,
  WriteResult,
} from './types';
import { decodeWriteResponse, encodeWriteItems, type EncodableOp } from './xml/write-items';

/** Reads the writer needs to resolve a lost response. */
export interface WriteLookups {
  item(id: ItemId, signal?: AbortSignal): Promise<RemoteItem>;
  children(folderId: ItemId, query: ChildrenQuery): Promise<ChildrenPage>;
}

export interface WriterConfig {
  session: SpSession;
  /** SFS base URL. */
  sfs: string;
  /** `SkyDriveSync=<guid>` value's guid: our stable per-install identity. */
  customIdentity: string;
  lookups: WriteLookups;
  /** Files at or above this size go through BITS (policy InlineUploadThreshold). */
  inlineThreshold: () => Promise<number>;
  fragmentBytes?: number | undefined;
  /** Our own subscription, so our writes do not wake us (X-SubscriptionIdToNotNotify). */
  subscriptionId: () => string | undefined;
}

const LOOKUP_PAGE = 1000;
const MAX_LOOKUP_PAGES = 100;

async function hashFile(path: string, signal?: AbortSignal): Promise<{ size: number; hash: string }> {
  const h = new QuickXorHash();
  let size = 0;
  for await (const chunk of fs.createReadStream(path, { highWaterMark: 1024 * 1024, signal })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, hash: h.digest() };
}

function validate(op: WriteOp): void {
  if ((op.op === 'createFile' || op.op === 'createFolder') && op.name !== undefined) assertSafeName(op.name);
  if (op.op === 'move') {
    if (op.name === undefined && op.parentId === undefined)
      throw new InvalidInputError('move needs a name or a parent');
    if (op.name !== undefined) assertSafeName(op.name);
  }
}

type Resolution = WriteResult | 'resend';

export class SpWriter {
  constructor(private readonly cfg: WriterConfig) {}

  async writeBatch(ops: readonly WriteOp[], opts: WriteOptions = {}): Promise<WriteResult[]> {
    if (ops.length === 0) return [];
    ops.forEach(validate);
    const bits: BitsSession[] = [];
    try {
      const encoded = await this.prepare(ops, opts, bits);
      const results = await this.sendWithRecovery(encoded, opts);
      // A refused commit leaves its session alive on the server: drop it.
      await this.cancelUnspent(bits, encoded, results);
      return results;
    } catch (err) {
      await Promise.all(bits.map((b) => b.cancel().catch(() => undefined)));
      throw err;
    }
  }

  private async cancelUnspent(
    bits: BitsSession[],
    encoded: { op: EncodableOp }[],
    results: WriteResult[],
  ): Promise<void> {
    const spent = new Set(
      encoded.flatMap((e, i) =>
        results[i]?.status === 'Success' && e.op.upload ? [e.op.upload.fragmentSessionId] : [],
      ),
    );
    await Promise.all(bits.filter((b) => !spent.has(b.id)).map((b) => b.cancel().catch(() => undefined)));
  }

  /** Size/hash every upload; large ones go through BITS now, small ones become MIME parts. */
  private async prepare(
    ops: readonly WriteOp[],
    opts: WriteOptions,
    bits: BitsSession[],
  ): Promise<{ op: EncodableOp; part?: BinaryPart }[]> {
    const threshold = await this.cfg.inlineThreshold();
    const out: { op: EncodableOp; part?: BinaryPart }[] = [];
    for (const op of ops) {
      if (op.op !== 'createFile' && op.op !== 'updateFile') {
        out.push({ op });
        continue;
      }
      const src: UploadSource = op.source;
      const known =
        src.size !== undefined && src.hash !== undefined ? { size: src.size, hash: src.hash } : undefined;
      // Large files are hashed in the same read pass that uploads them (the hash is only needed by the commit).
      // Every byte hashed and sent must come from this version of the file (source-stamp.ts).
      const stamp = await stampOf(src.path);
      const size = known?.size ?? Number(stamp.size);
      const mimeType = src.mimeType ?? 'application/octet-stream';
      if (size >= threshold) {
        const running = known === undefined ? new QuickXorHash() : undefined;
        const s = await bitsUpload(
          this.cfg.session,
          new URL(`${this.cfg.sfs}/RootFolder?View=SkyDriveSync`),
          src.path,
          size,
          {
            fragmentBytes: this.cfg.fragmentBytes,
            signal: opts.signal,
            onProgress: opts.onProgress,
            hash: running,
          },
        );
        bits.push(s);
        const hash = known?.hash ?? s.hash ?? (await hashFile(src.path, opts.signal)).hash;
        await assertUnchanged(src.path, stamp); // before the commit: a torn version never becomes the server's
        out.push({ op: { ...op, upload: { size, hash, mimeType, fragmentSessionId: s.id } } });
      } else {
        const inline = known ?? (await hashFile(src.path, opts.signal));
        await assertUnchanged(src.path, stamp);
        const fragmentSessionId = randomUUID();
        out.push({
          op: { ...op, upload: { size: inline.size, hash: inline.hash, mimeType, fragmentSessionId } },
          part: { fragmentSessionId, path: src.path, size: inline.size, stamp },
        });
      }
    }
    return out;
  }

  private async sendWithRecovery(
    encoded: { op: EncodableOp; part?: BinaryPart }[],
    opts: WriteOptions,
  ): Promise<WriteResult[]> {
    const results: (WriteResult | undefined)[] = encoded.map(() => undefined);
    let pending = encoded.map((_, i) => i);
    for (let attempt = 1; ; attempt++) {
      const batch = pending.map((i) => encoded[i] as { op: EncodableOp; part?: BinaryPart });
      try {
        const got = await this.post(batch, opts);
        pending.forEach((i, k) => (results[i] = got[k]));
        return results as WriteResult[];
      } catch (err) {
        // Offline: the uploader keeps the journal row and, once online, recognises a lost reply by our identity.
        if (opts.signal?.aborted || attempt >= MAX_ATTEMPTS || !this.cfg.session.mayRetry()) throw err;
        const delay = retryDelayMs(err, attempt, this.cfg.session.deps.random ?? Math.random);
        if (err instanceof ThrottledError) {
          // A throttled request was not processed: resend as is.
          await this.cfg.session.deps.clock.sleep(delay, opts.signal);
          continue;
        }
        if (!(err instanceof NetworkError) && !(err instanceof HttpStatusError && err.retryable)) throw err;
        // The request may or may not have taken effect: look each op up before sending anything again.
        this.cfg.session.deps.logger?.info(
          { ops: batch.length, code: err.code },
          'write response lost; checking what took effect',
        );
        const resolved = await Promise.all(batch.map(({ op }) => this.resolveLost(op, opts.signal)));
        const next: number[] = [];
        resolved.forEach((r, k) => {
          const i = pending[k] as number;
          if (r === 'resend') next.push(i);
          else results[i] = r;
        });
        if (next.length === 0) return results as WriteResult[];
        pending = next;
        await this.cfg.session.deps.clock.sleep(delay, opts.signal);
      }
    }
  }

  private async post(
    batch: { op: EncodableOp; part?: BinaryPart }[],
    opts: WriteOptions,
  ): Promise<WriteResult[]> {
    const xml = encodeWriteItems(batch.map((b) => b.op));
    const parts = batch.flatMap((b) => (b.part ? [b.part] : []));
    const headers: Record<string, string> = {
      application: 'OneDriveSync',
      scenario: parts.length > 0 ? 'StorageInlineUploadsScenario' : 'StorageMetadataScenario',
      'x-customidentity': `SkyDriveSync=${this.cfg.customIdentity}`,
    };
    const sub = this.cfg.subscriptionId();
    if (sub !== undefined) headers['x-subscriptionidtonotnotify'] = sub;
    let body: string | (() => AsyncIterable<Uint8Array>) = xml;
    if (parts.length > 0) {
      const mp = multipartRelated(xml, parts);
      headers['content-type'] = mp.contentType;
      headers['content-length'] = String(mp.length);
      body = () => mp.open();
    } else {
      headers['content-type'] = 'application/web3s+xml';
    }
    const res = await this.cfg.session.text({
      method: 'POST',
      url: new URL(`${this.cfg.sfs}/RootFolder?View=SkyDriveSync`),
      accept: XML_ACCEPT,
      what: 'write',
      digest: true,
      headers,
      body,
      signal: opts.signal,
    });
    return decodeWriteResponse(
      res.text,
      batch.map((b) => b.op),
    );
  }

  /** After a lost response: what happened to `op`, or 'resend' when it provably did not take effect. */
  private async resolveLost(op: EncodableOp, signal?: AbortSignal): Promise<Resolution> {
    const ours = (item: RemoteItem): boolean =>
      op.upload === undefined ||
      (item.size === op.upload.size && (item.hash === undefined || item.hash === op.upload.hash));
    const success = (item: RemoteItem): WriteResult => ({
      status: 'Success',
      item,
      rewrittenByServer: false,
      recovered: true,
    });
    if (op.op === 'createFile' || op.op === 'createFolder') {
      const found = await this.findChild(op.parentId, op.name, signal);
      if (found === undefined) return 'resend';
      const kindOk = found.kind === (op.op === 'createFolder' ? 'folder' : 'document');
      if (kindOk && (ours(found) || found.modifierIdentity === this.cfg.customIdentity))
        return success(found);
      return { status: 'NameConflict', current: found };
    }
    let current: RemoteItem;
    try {
      current = await this.cfg.lookups.item(op.item.id, signal);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      if (op.op === 'delete')
        return {
          status: 'Success',
          item: { ...tombstoneOf(op.item.id), etag: op.item.etag },
          rewrittenByServer: false,
          recovered: true,
        };
      return { status: 'NotFound', current: undefined };
    }
    if (current.etag === op.item.etag) return 'resend';
    const applied =
      op.op === 'updateFile'
        ? ours(current)
        : op.op === 'move'
          ? (op.name === undefined || current.name === op.name) &&
            (op.parentId === undefined || current.parentId === op.parentId)
          : op.op === 'touch'
            ? Math.floor(current.modified.getTime() / 1000) === Math.floor(op.modified.getTime() / 1000)
            : false;
    return applied ? success(current) : { status: 'Conflict', current };
  }

  private async findChild(
    parentId: ItemId,
    name: string,
    signal?: AbortSignal,
  ): Promise<RemoteItem | undefined> {
    const key = foldName(name);
    for (let page = 0; page < MAX_LOOKUP_PAGES; page++) {
      signal?.throwIfAborted();
      const res = await this.cfg.lookups.children(parentId, {
        foldersOnly: false,
        offset: page * LOOKUP_PAGE,
        count: LOOKUP_PAGE,
      });
      const hit = res.items.find((i) => !i.deleted && i.parentId === parentId && foldName(i.name) === key);
      if (hit !== undefined || !res.hasMore) return hit;
    }
    return undefined;
  }
}

function tombstoneOf(id: ItemId): RemoteItem {
  return {
    kind: 'document',
    id,
    parentId: id,
    name: '',
    path: '',
    etag: '' as RemoteItem['etag'],
    created: new Date(0),
    modified: new Date(0),
    size: 0,
    deleted: true,
  };
}
