import { Writable } from "node:stream";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { StorageError, type FileWriter } from "../driver.js";
import { MIN_PART_SIZE, type S3Context } from "./config.js";
import { copyParts, copyRanges } from "./copy.js";
import { eachLimited } from "./limit.js";
import { deleteKeys, headObject } from "./objects.js";
import { abortUpload, putTail, readTail, resolve, uploadsFor, type StoredPart, type Upload } from "./progress.js";

/**
 * How the side object (progress.ts) stands against this writer's state: absent; holding exactly
 * the bytes after this writer's parts as they were when it opened ("current"); or something else
 * to be replaced before anything relies on it.
 */
type TailState = "none" | "current" | "other";

const EMPTY = Buffer.alloc(0);
/** Leftover uploads aborted at once when a writer opens. */
const ABORT_CONCURRENCY = 8;

/**
 * Opens a writer on `path`: with `append`, continuing the object being written (its upload found
 * with ListMultipartUploads and ListParts, its tail read back), or a committed object (whose bytes
 * become the first part or the tail). Without, starting empty; what was being written is aborted.
 */
export async function openWriter(ctx: S3Context, name: string, path: string, append: boolean): Promise<FileWriter> {
  const key = ctx.keys.key(path);
  const [committed, tail, uploads] = await Promise.all([headObject(ctx, key), readTail(ctx, key, append), uploadsFor(ctx, key)]);
  if (!append || committed) {
    await eachLimited(uploads, ABORT_CONCURRENCY, (u) => abortUpload(ctx, u));
    const writer = new S3Writer(ctx, name, path, { parts: [], bytes: EMPTY, tail: tail ? "other" : "none", replaces: committed !== undefined });
    if (append && committed) await writer.absorb(committed.size);
    return writer;
  }
  await eachLimited(uploads.slice(0, -1), ABORT_CONCURRENCY, (u) => abortUpload(ctx, u));
  const progress = await resolve(ctx, tail, uploads);
  return new S3Writer(ctx, name, path, {
    ...(progress.upload ? { upload: progress.upload } : {}),
    parts: progress.parts,
    bytes: progress.tailValid ? (tail?.bytes ?? EMPTY) : EMPTY,
    tail: tail === undefined ? "none" : progress.tailValid ? "current" : "other",
    replaces: false,
  });
}

interface WriterStart {
  upload?: Upload;
  parts: StoredPart[];
  /** The bytes after the parts. */
  bytes: Buffer;
  tail: TailState;
  /** A committed object at the key that `close()` must remove: its bytes were taken over, or truncated. */
  replaces: boolean;
}

/**
 * Streams into the key's multipart upload with at most two part buffers: one filling while the
 * one before uploads, the stream's write held (backpressure) until that upload is done. Bytes that
 * do not fill a part stay in memory until `close()` (tail) or `commit()` (last part, or the whole
 * object by one PutObject when it never reached a part).
 */
class S3Writer implements FileWriter {
  readonly stream: Writable;
  private readonly key: string;
  private upload: Upload | undefined;
  private readonly parts: StoredPart[];
  private tail: TailState;
  private replaces: boolean;
  private fill: Buffer | undefined;
  private filled = 0;
  private spare: Buffer | undefined;
  /** The part upload in flight; never rejects (its failure is kept in `failure`). */
  private inflight: Promise<void> = Promise.resolve();
  private failure: { err: unknown } | undefined;
  /** Set by close/commit/cancel: no part upload starts after it. */
  private stopped = false;
  private ended: "closed" | "committed" | "cancelled" | undefined;
  private initialSize: number;
  private partsAtOpen: number;
  private written = 0;

  constructor(
    private readonly ctx: S3Context,
    private readonly name: string,
    private readonly path: string,
    start: WriterStart,
  ) {
    this.key = ctx.keys.key(path);
    this.upload = start.upload;
    this.parts = [...start.parts];
    this.tail = start.tail;
    this.replaces = start.replaces;
    this.partsAtOpen = this.parts.length;
    this.initialSize = this.partBytes() + start.bytes.length;
    if (start.bytes.length > 0) {
      this.fill = Buffer.allocUnsafe(ctx.chunkSize);
      this.filled = start.bytes.copy(this.fill);
    }
    this.stream = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.take(chunk).then(() => callback(), (err: unknown) => callback(asError(err)));
      },
      final: (callback) => {
        void this.inflight.then(() => callback(this.failure ? asError(this.failure.err) : null));
      },
    });
  }

  get size(): number {
    return this.initialSize + this.written;
  }

  /** Takes over a committed object of `size` bytes: small, as the tail; else copied into the first parts. */
  async absorb(size: number): Promise<void> {
    if (size < MIN_PART_SIZE) {
      const out = await this.ctx.client.send(new GetObjectCommand({ Bucket: this.ctx.bucket, Key: this.key }));
      const bytes = Buffer.from((await out.Body?.transformToByteArray()) ?? EMPTY);
      this.fill = Buffer.allocUnsafe(this.ctx.chunkSize);
      this.filled = bytes.copy(this.fill);
    } else {
      const upload = await this.ensureUpload();
      this.parts.push(...(await copyParts(this.ctx, this.key, upload, copyRanges(size, this.ctx.copy.chunkSize, true), 1)));
    }
    this.partsAtOpen = this.parts.length;
    this.initialSize = this.partBytes() + this.filled;
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = "closed";
    this.stream.destroy();
    await this.settle();
    try {
      if (this.failure) throw this.failure.err;
      await this.persist();
    } finally {
      this.release();
    }
  }

  async commit(): Promise<void> {
    if (this.ended) throw new StorageError(`${this.name}: commit ${this.path}: the writer is already ${this.ended}`, this.name);
    if (!this.stream.writableFinished || this.stream.errored) {
      // What arrived is kept, as close() would: the upload can go on from there.
      await this.close();
      throw new StorageError(`${this.name}: commit ${this.path}: the stream did not finish`, this.name);
    }
    await this.settle();
    if (this.failure) throw this.failure.err;
    const rest = this.fill?.subarray(0, this.filled) ?? EMPTY;
    const { client, bucket } = this.ctx;
    if (this.parts.length === 0) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: this.key, Body: rest, ...this.ctx.object }));
      if (this.upload) await abortUpload(this.ctx, this.upload);
    } else {
      const upload = await this.ensureUpload();
      // The last part is not recorded: should completing fail, close() keeps its bytes as the tail.
      const parts = rest.length > 0 ? [...this.parts, await this.sendPart(upload, this.parts.length + 1, rest)] : this.parts;
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: this.key,
          UploadId: upload.id,
          MultipartUpload: { Parts: parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
        }),
      );
    }
    this.ended = "committed";
    this.release();
    // The object is whole already: a side object left beside it only costs space (a committed
    // object wins over it, and deleting the path removes it), so failing to remove it is no failure.
    if (this.tail !== "none") {
      await deleteKeys(this.ctx, [this.ctx.keys.tailKey(this.key)]).catch((err: unknown) => {
        this.ctx.warn(`${this.name}: commit ${this.path}: leaving its side object behind: ${asError(err).message}`);
      });
    }
  }

  async cancel(): Promise<void> {
    if (this.ended === "cancelled") return;
    this.ended = "cancelled";
    this.stream.destroy();
    await this.settle();
    this.release();
    if (this.upload) await abortUpload(this.ctx, this.upload);
    await deleteKeys(this.ctx, [this.key, this.ctx.keys.tailKey(this.key)]);
  }

  /** Copies a chunk into the part buffer, handing each full buffer to an upload once the one before is done. */
  private async take(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.failure) throw this.failure.err;
      if (this.stopped) throw new Error("the writer was released");
      if (!this.fill) {
        this.fill = this.spare ?? Buffer.allocUnsafe(this.ctx.chunkSize);
        this.spare = undefined;
      }
      const n = chunk.copy(this.fill, this.filled, offset);
      this.filled += n;
      this.written += n;
      offset += n;
      if (this.filled === this.fill.length) await this.flushFull();
    }
  }

  private async flushFull(): Promise<void> {
    await this.inflight;
    // Released meanwhile: the full buffer stays for close() to store, so `size` stays true.
    if (this.stopped) throw new Error("the writer was released");
    if (this.failure) throw this.failure.err;
    const buffer = this.fill!;
    this.fill = undefined;
    this.filled = 0;
    this.inflight = this.uploadPart(buffer).then(
      () => {
        this.spare = buffer;
      },
      (err: unknown) => {
        this.failure ??= { err };
      },
    );
  }

  private async uploadPart(bytes: Buffer): Promise<void> {
    const upload = await this.ensureUpload();
    this.parts.push(await this.sendPart(upload, this.parts.length + 1, bytes));
  }

  private async sendPart(upload: Upload, PartNumber: number, Body: Buffer): Promise<StoredPart> {
    const out = await this.ctx.client.send(new UploadPartCommand({ Bucket: this.ctx.bucket, Key: this.key, UploadId: upload.id, PartNumber, Body }));
    if (out.ETag === undefined) throw new Error(`S3 returned no ETag for part ${PartNumber} of ${this.key}`);
    return { PartNumber, ETag: out.ETag, Size: Body.length };
  }

  /** The key's upload, created on first need with its side object (see progress.ts). */
  private async ensureUpload(): Promise<Upload> {
    if (this.upload) return this.upload;
    const created = await this.ctx.client.send(new CreateMultipartUploadCommand({ Bucket: this.ctx.bucket, Key: this.key, ...this.ctx.object }));
    if (created.UploadId === undefined) throw new Error(`S3 returned no upload id for ${this.key}`);
    this.upload = { key: this.key, id: created.UploadId, initiated: new Date() };
    // A current tail holds bytes the first part is about to take, and stays valid until it does.
    if (this.tail !== "current") {
      await putTail(this.ctx, this.key, EMPTY, this.upload.id, 0);
      this.tail = "current";
    }
    return this.upload;
  }

  /** Leaves the bytes resumable: a last full-size part if they make one, the rest in the side object. */
  private async persist(): Promise<void> {
    let rest = this.fill?.subarray(0, this.filled) ?? EMPTY;
    if (rest.length >= MIN_PART_SIZE) {
      await this.uploadPart(rest);
      rest = EMPTY;
    }
    // A current tail whose bytes went into a part is stale by its part count already.
    const changed = this.written > 0 || this.parts.length !== this.partsAtOpen;
    if (this.tail !== "current" || (rest.length > 0 && changed)) {
      await putTail(this.ctx, this.key, rest, this.upload?.id ?? "", this.parts.length);
      this.tail = "current";
    }
    if (this.replaces) {
      await deleteKeys(this.ctx, [this.key]);
      this.replaces = false;
    }
  }

  /** Waits out the part upload in flight, and any that a write resumed by it might start. */
  private async settle(): Promise<void> {
    this.stopped = true;
    for (let current = this.inflight; ; current = this.inflight) {
      await current;
      if (current === this.inflight) return;
    }
  }

  private release(): void {
    this.fill = undefined;
    this.spare = undefined;
    this.filled = 0;
  }

  private partBytes(): number {
    return this.parts.reduce((sum, p) => sum + p.Size, 0);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
