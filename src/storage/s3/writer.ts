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
/** Bytes a writer gathers before it takes a part buffer from the pool. */
const HEAD_LIMIT = 256 * 1024;
/** Parts one writer uploads at once, pool permitting. */
const PARTS_IN_FLIGHT = 4;

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
 * Streams into the key's multipart upload. The first bytes gather in a small buffer of the
 * writer's own (a small blob never takes a part buffer); beyond `HEAD_LIMIT` they fill a part
 * buffer from the driver's shared pool (pool.ts), and each full buffer is uploaded as the next
 * part while the following one fills, up to `PARTS_IN_FLIGHT` at once; the stream's write is held
 * (backpressure) while the writer waits for a buffer or for a part to end. Parts may end out of
 * order; they are numbered when sent, and a failure keeps the ones before it (progress.ts counts
 * parts contiguous from 1). Bytes that do not fill a part stay in memory until `close()` (tail) or
 * `commit()` (last part, or the whole object by one PutObject when it never reached a part).
 */
class S3Writer implements FileWriter {
  readonly stream: Writable;
  private readonly key: string;
  private upload: Upload | undefined;
  private uploading: Promise<Upload> | undefined;
  /** The parts stored, in order of their ends (sorted where order counts). */
  private readonly parts: StoredPart[];
  private nextPart: number;
  private tail: TailState;
  private replaces: boolean;
  /** Bytes not yet in a part buffer (the first ones, or a tail taken over). */
  private head: Buffer[] = [];
  private headBytes = 0;
  /** The part buffer filling, lent by the pool. */
  private fill: Buffer | undefined;
  private filled = 0;
  /** Part uploads under way; none rejects (a failure is kept in `failure`). */
  private readonly inflight = new Set<Promise<void>>();
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
    if (start.upload) this.uploading = Promise.resolve(start.upload);
    this.parts = [...start.parts];
    this.nextPart = this.parts.length + 1;
    this.tail = start.tail;
    this.replaces = start.replaces;
    this.partsAtOpen = this.parts.length;
    this.initialSize = this.partBytes() + start.bytes.length;
    if (start.bytes.length > 0) this.keep(start.bytes);
    this.stream = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.take(chunk).then(() => callback(), (err: unknown) => callback(asError(err)));
      },
      final: (callback) => {
        void this.drain().then(() => callback(this.failure ? asError(this.failure.err) : null));
      },
    });
  }

  get size(): number {
    return this.initialSize + this.written;
  }

  /** Takes over a committed object of `size` bytes: small, as the head; else copied into the first parts. */
  async absorb(size: number): Promise<void> {
    if (size < MIN_PART_SIZE) {
      const out = await this.ctx.client.send(new GetObjectCommand({ Bucket: this.ctx.bucket, Key: this.key }));
      this.keep(Buffer.from((await out.Body?.transformToByteArray()) ?? EMPTY));
    } else {
      const upload = await this.ensureUpload();
      this.parts.push(...(await copyParts(this.ctx, this.key, upload, copyRanges(size, this.ctx.copy.chunkSize, true), 1)));
      this.nextPart = this.parts.length + 1;
    }
    this.partsAtOpen = this.parts.length;
    this.initialSize = this.partBytes() + this.headBytes;
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
    // A failure leaves the writer open: close() keeps what arrived, as the tail.
    if (this.failure) throw this.failure.err;
    const rest = this.rest();
    const { client, bucket } = this.ctx;
    if (this.parts.length === 0) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: this.key, Body: rest, ...this.ctx.object }));
      if (this.upload) await abortUpload(this.ctx, this.upload);
    } else {
      const upload = await this.ensureUpload();
      // The last part is not recorded: should completing fail, close() keeps its bytes as the tail.
      const parts = this.sortedParts();
      if (rest.length > 0) parts.push(await this.sendPart(upload, this.nextPart, rest));
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

  /** Copies a chunk into the head or the part buffer, handing each full buffer to an upload. */
  private async take(chunk: Buffer): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.failure) throw this.failure.err;
      if (this.stopped) throw new Error("the writer was released");
      if (!this.fill) {
        if (this.headBytes + chunk.length - offset <= HEAD_LIMIT) {
          this.written += chunk.length - offset;
          this.keep(Buffer.from(chunk.subarray(offset)));
          return;
        }
        const buffer = await this.ctx.parts.acquire();
        if (this.stopped || this.failure) {
          this.ctx.parts.release(buffer);
          continue;
        }
        this.filled = 0;
        for (const bytes of this.head) this.filled += bytes.copy(buffer, this.filled);
        this.head = [];
        this.headBytes = 0;
        this.fill = buffer;
      }
      const n = chunk.copy(this.fill, this.filled, offset);
      this.filled += n;
      this.written += n;
      offset += n;
      if (this.filled === this.fill.length) await this.flushFull();
    }
  }

  private keep(bytes: Buffer): void {
    this.head.push(bytes);
    this.headBytes += bytes.length;
  }

  /** The bytes after the parts sent. */
  private rest(): Buffer {
    if (this.fill) return this.fill.subarray(0, this.filled);
    return this.head.length === 1 ? this.head[0]! : Buffer.concat(this.head);
  }

  /** Sends the full part buffer once fewer than `PARTS_IN_FLIGHT` are under way. */
  private async flushFull(): Promise<void> {
    while (this.inflight.size >= PARTS_IN_FLIGHT) await Promise.race(this.inflight);
    // Released meanwhile: the full buffer stays for close() to store, so `size` stays true.
    if (this.stopped) throw new Error("the writer was released");
    if (this.failure) throw this.failure.err;
    const buffer = this.fill!;
    this.fill = undefined;
    this.filled = 0;
    const PartNumber = this.nextPart++;
    const task: Promise<void> = this.ensureUpload()
      .then((upload) => this.sendPart(upload, PartNumber, buffer))
      .then(
        (part) => {
          this.parts.push(part);
        },
        (err: unknown) => {
          this.failure ??= { err };
        },
      )
      .finally(() => {
        this.ctx.parts.release(buffer);
        this.inflight.delete(task);
      });
    this.inflight.add(task);
  }

  private async sendPart(upload: Upload, PartNumber: number, Body: Buffer): Promise<StoredPart> {
    const out = await this.ctx.client.send(new UploadPartCommand({ Bucket: this.ctx.bucket, Key: this.key, UploadId: upload.id, PartNumber, Body }));
    if (out.ETag === undefined) throw new Error(`S3 returned no ETag for part ${PartNumber} of ${this.key}`);
    return { PartNumber, ETag: out.ETag, Size: Body.length };
  }

  /** The key's upload, created once on first need with its side object (see progress.ts). */
  private ensureUpload(): Promise<Upload> {
    this.uploading ??= this.createUpload();
    return this.uploading;
  }

  private async createUpload(): Promise<Upload> {
    const created = await this.ctx.client.send(new CreateMultipartUploadCommand({ Bucket: this.ctx.bucket, Key: this.key, ...this.ctx.object }));
    if (created.UploadId === undefined) throw new Error(`S3 returned no upload id for ${this.key}`);
    const upload = { key: this.key, id: created.UploadId, initiated: new Date() };
    this.upload = upload;
    // A current tail holds bytes the first part is about to take, and stays valid until it does.
    if (this.tail !== "current") {
      await putTail(this.ctx, this.key, EMPTY, upload.id, 0);
      this.tail = "current";
    }
    return upload;
  }

  /** Leaves the bytes resumable: a last full-size part if they make one, the rest in the side object. */
  private async persist(): Promise<void> {
    let rest = this.rest();
    if (rest.length >= MIN_PART_SIZE) {
      const upload = await this.ensureUpload();
      this.parts.push(await this.sendPart(upload, this.nextPart++, rest));
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

  /** Stops part uploads from starting and waits out those under way. */
  private async settle(): Promise<void> {
    this.stopped = true;
    await this.drain();
  }

  private async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all(this.inflight);
  }

  /** Gives the part buffer back to the pool and drops the head. */
  private release(): void {
    if (this.fill) this.ctx.parts.release(this.fill);
    this.fill = undefined;
    this.filled = 0;
    this.head = [];
    this.headBytes = 0;
  }

  private sortedParts(): StoredPart[] {
    return [...this.parts].sort((a, b) => a.PartNumber - b.PartNumber);
  }

  private partBytes(): number {
    return this.parts.reduce((sum, p) => sum + p.Size, 0);
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
