import { Readable } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import {
  InvalidPathError,
  PathNotFoundError,
  StorageError,
  isValidPath,
  type Capabilities,
  type FileInfo,
  type FileWriter,
  type ListPage,
  type Range,
  type StorageDriver,
} from "../driver.js";
import { clientConfig, endpointOf, s3Options, type S3Context, type S3Settings } from "./config.js";
import { copyObject } from "./copy.js";
import { explainErrors, isInvalidRange, isMissingKey, statusOf } from "./errors.js";
import { eachLimited } from "./limit.js";
import { firstUnder, keysUnder, listNames, type Listed } from "./list.js";
import { deleteKeys, headObject } from "./objects.js";
import { abortUpload, readTail, resolve, uploadsFor, uploadsUnder } from "./progress.js";
import { openWriter } from "./writer.js";

const EMPTY = Buffer.alloc(0);
/** Objects copied at once when a directory moves (each may itself be a parallel multipart copy). */
const MOVE_CONCURRENCY = 8;

/**
 * The storage driver over an S3 bucket, in registry:2's key layout (keys.ts), so that registry:2
 * and lading can serve the same bucket. Not `exclusive` (replicas share the bucket) and without
 * `batch` (S3 has no atomic multi-object write): the registry falls back to ordered single writes.
 * Redirects are presigned GET URLs.
 *
 * S3 itself keeps what the contract asks of a write: PutObject, CopyObject and
 * CompleteMultipartUpload make an object appear whole, never torn. Unlike a filesystem it lets an
 * object sit beneath another (`/a` and `/a/b`); the registry's layout never asks for that.
 */
export class S3Driver implements StorageDriver {
  readonly name = "s3";
  readonly capabilities: Capabilities;
  private readonly ctx: S3Context;

  /** A driver on the configured bucket, once a listing of it succeeds (credentials and bucket are right). */
  static async open(settings: S3Settings, warn?: (message: string) => void): Promise<S3Driver> {
    const driver = new S3Driver(settings, warn);
    try {
      await driver.ctx.client.send(new ListObjectsV2Command({ Bucket: settings.bucket, Prefix: driver.ctx.keys.root, MaxKeys: 1 }));
    } catch (err) {
      await driver.close();
      const reason = statusOf(err) === 404 ? `bucket ${settings.bucket} does not exist` : err instanceof Error ? err.message : String(err);
      throw new StorageError(`${driver.name}: opening bucket ${settings.bucket}: ${reason}`, driver.name, { cause: err });
    }
    return driver;
  }

  constructor(settings: S3Settings, warn: (message: string) => void = () => {}) {
    const client = new S3Client(clientConfig(settings));
    explainErrors(client, settings.bucket, endpointOf(settings));
    this.ctx = { ...s3Options(settings), client, warn };
    this.capabilities = { redirect: (path, seconds) => this.redirect(path, seconds), abortAbandoned: (dir, olderThan) => this.abortStaleUploads(dir, olderThan) };
  }

  async getContent(path: string): Promise<Buffer> {
    try {
      const out = await this.ctx.client.send(new GetObjectCommand({ Bucket: this.ctx.bucket, Key: this.ctx.keys.key(path) }));
      return Buffer.from((await out.Body?.transformToByteArray()) ?? EMPTY);
    } catch (err) {
      if (!isMissingKey(err)) throw err;
    }
    return this.uncommitted(path);
  }

  async putContent(path: string, content: Uint8Array): Promise<void> {
    await this.ctx.client.send(new PutObjectCommand({ Bucket: this.ctx.bucket, Key: this.ctx.keys.key(path), Body: content, ...this.ctx.object }));
  }

  /** A start at or past the end reads nothing, as the filesystem driver does. */
  async reader(path: string, range: Range = {}): Promise<Readable> {
    const start = range.start ?? 0;
    const end = range.end;
    if (end !== undefined && end < start) {
      await this.stat(path);
      return Readable.from([], { objectMode: false });
    }
    const Range = start === 0 && end === undefined ? undefined : `bytes=${start}-${end ?? ""}`;
    try {
      const out = await this.ctx.client.send(new GetObjectCommand({ Bucket: this.ctx.bucket, Key: this.ctx.keys.key(path), Range }));
      if (!(out.Body instanceof Readable)) throw new Error("S3 returned no readable body");
      return out.Body;
    } catch (err) {
      if (isInvalidRange(err)) return Readable.from([], { objectMode: false });
      if (!isMissingKey(err)) throw err;
    }
    const bytes = await this.uncommitted(path);
    return Readable.from([bytes.subarray(start, end === undefined ? undefined : end + 1)], { objectMode: false });
  }

  writer(path: string, options: { append?: boolean } = {}): Promise<FileWriter> {
    return openWriter(this.ctx, this.name, path, options.append === true);
  }

  async stat(path: string): Promise<FileInfo> {
    if (path === "/") return { path, size: 0, modTime: new Date(), isDir: true };
    const key = this.ctx.keys.key(path);
    const head = await headObject(this.ctx, key);
    if (head) return { path, size: head.size, modTime: head.modTime, isDir: false };
    const [tail, beneath] = await Promise.all([readTail(this.ctx, key, false), firstUnder(this.ctx, `${key}/`)]);
    if (tail) {
      const progress = await resolve(this.ctx, tail, await uploadsFor(this.ctx, key));
      return { path, size: progress.size, modTime: tail.modTime, isDir: false };
    }
    if (beneath) return { path, size: 0, modTime: beneath, isDir: true };
    throw new PathNotFoundError(path, this.name);
  }

  async list(path: string, page?: ListPage): Promise<string[]> {
    const names = await listNames(this.ctx, this.ctx.keys.dirPrefix(path), page);
    if (names !== undefined) return names;
    if (path === "/") return [];
    throw new PathNotFoundError(path, this.name);
  }

  /**
   * CopyObject (multipart above the threshold), then the source's delete: a crash in between
   * leaves both, as the contract allows. A directory moves object by object.
   */
  async move(source: string, dest: string): Promise<void> {
    if (source === dest) {
      await this.stat(source);
      return;
    }
    const { keys } = this.ctx;
    const from = keys.key(source);
    const to = keys.key(dest);
    const head = await headObject(this.ctx, from);
    if (head) {
      await copyObject(this.ctx, from, to, head.size);
      await deleteKeys(this.ctx, [from]);
      return;
    }
    const objects: Listed[] = [];
    for await (const page of keysUnder(this.ctx, `${from}/`)) objects.push(...page);
    if (objects.length === 0) {
      if (await readTail(this.ctx, from, false)) throw new Error("it is being written: commit it before moving it");
      throw new PathNotFoundError(source, this.name);
    }
    if ((await uploadsUnder(this.ctx, `${from}/`)).length > 0) {
      throw new Error("objects beneath it are being written in multipart uploads, which S3 cannot move: commit or cancel them first");
    }
    await eachLimited(objects, MOVE_CONCURRENCY, (o) => copyObject(this.ctx, o.key, to + o.key.slice(from.length), o.size));
    await deleteKeys(
      this.ctx,
      objects.map((o) => o.key),
    );
  }

  /** The object, its side object, its upload, and everything beneath it. */
  async delete(path: string): Promise<void> {
    const { keys } = this.ctx;
    const key = keys.key(path);
    const own = [key, keys.tailKey(key)];
    const [listed, uploads] = await Promise.all([
      // The object and its side object are the first keys with the object's key as prefix.
      this.ctx.client.send(new ListObjectsV2Command({ Bucket: this.ctx.bucket, Prefix: key, MaxKeys: 2 })),
      uploadsUnder(this.ctx, key),
    ]);
    const found = (listed.Contents ?? []).flatMap((o) => (o.Key !== undefined && own.includes(o.Key) ? [o.Key] : []));
    const writing = uploads.filter((u) => u.key === key || u.key.startsWith(`${key}/`));
    await eachLimited(writing, MOVE_CONCURRENCY, (u) => abortUpload(this.ctx, u));
    let deleted = found.length + writing.length;
    if (found.length > 0) await deleteKeys(this.ctx, found);
    for await (const page of keysUnder(this.ctx, `${key}/`)) {
      await deleteKeys(
        this.ctx,
        page.map((o) => o.key),
      );
      deleted += page.length;
    }
    if (deleted === 0) throw new PathNotFoundError(path, this.name);
  }

  async close(): Promise<void> {
    this.ctx.client.destroy();
  }

  /**
   * Upload purging: aborts the multipart uploads under the directory `path` ("/" for the whole
   * store) initiated before `olderThan`, whose writers are gone (crashed, or their upload deleted
   * by a registry that does not abort). Returns the paths they were writing. Side objects belong
   * to their upload's directory, which upload purging deletes with its session.
   */
  async abortStaleUploads(path: string, olderThan: Date): Promise<string[]> {
    if (!isValidPath(path)) throw new InvalidPathError(path, this.name);
    const stale = (await uploadsUnder(this.ctx, this.ctx.keys.dirPrefix(path))).filter((u) => u.initiated < olderThan);
    await eachLimited(stale, MOVE_CONCURRENCY, (u) => abortUpload(this.ctx, u));
    return stale.map((u) => this.ctx.keys.pathOf(u.key) ?? u.key);
  }

  private redirect(path: string, seconds: number): Promise<string> {
    return getSignedUrl(this.ctx.client, new GetObjectCommand({ Bucket: this.ctx.bucket, Key: this.ctx.keys.key(path) }), { expiresIn: seconds });
  }

  /** The bytes of an object being written: readable while all are in its side object (S3 cannot read an unfinished part). */
  private async uncommitted(path: string): Promise<Buffer> {
    const key = this.ctx.keys.key(path);
    const tail = await readTail(this.ctx, key, true);
    if (!tail) throw new PathNotFoundError(path, this.name);
    const progress = await resolve(this.ctx, tail, await uploadsFor(this.ctx, key));
    if (progress.parts.length > 0) throw new Error("it is being written in a multipart upload: its bytes are readable once committed");
    return progress.tailValid ? (tail.bytes ?? EMPTY) : EMPTY;
  }
}
