import {
  AbortMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { MIN_PART_SIZE, type S3Context } from "./config.js";
import { isMissingKey, isMissingUpload } from "./errors.js";

/*
 * An object being written: what the bucket holds so that any replica can continue it.
 *
 * Until it is committed, an object's bytes are
 *   parts: the parts 1..n of the multipart upload for its key, each at least 5 MiB (S3's minimum
 *          for every part but the last, so the upload can always grow), and
 *   tail:  the bytes after them, fewer than 5 MiB, in the side object `<key>!lading-tail`.
 * S3 can neither read an unfinished part nor accept a part under 5 MiB before another, so `close()`
 * leaves the bytes that do not fill a part where the next `writer(path, {append: true})`, in this
 * process or another, reads them back and folds them into its first part.
 *
 * The side object names, as metadata, the upload and the number of parts it follows, and it counts
 * (`valid`) only while exactly those parts exist. The next part always begins with the tail's
 * bytes, so uploading it makes the tail stale without rewriting it, and every step is whole on its
 * own: a crash between two steps leaves the content before or after a whole part, never torn.
 *   - a part uploaded, the tail not yet rewritten: the tail is stale, the parts hold its bytes;
 *   - the upload created, no part yet: the tail (0 parts) still holds the bytes.
 * A last part under 5 MiB (a commit's final part whose completion failed) is not counted: the next
 * part overwrites it. Of several uploads for one key, the most recently initiated is the object's;
 * the others are leftovers of crashed writers, aborted when a writer opens.
 *
 * The side object exists whenever an upload does (created with it, empty when there is no tail),
 * so stat and list find an object being written by its side object without listing uploads.
 * A committed object at the key wins over all of this: what is beside it is left over from a
 * writer that completed and then failed to remove its side object. Nothing is visible at the key
 * itself before commit: PutObject or CompleteMultipartUpload then replaces it whole.
 */

export interface Tail {
  size: number;
  /** The upload it follows ("" for none) and how many of its parts. */
  upload: string;
  parts: number;
  modTime: Date;
  bytes?: Buffer;
}

export interface Upload {
  key: string;
  id: string;
  initiated: Date;
}

export interface StoredPart {
  PartNumber: number;
  ETag: string;
  Size: number;
}

/** An object's bytes while it is written: `parts`, then the tail's bytes when `tailValid`. */
export interface Progress {
  upload?: Upload;
  parts: StoredPart[];
  tail?: Tail;
  tailValid: boolean;
  size: number;
}

const UPLOAD_META = "lading-upload";
const PARTS_META = "lading-parts";

/** The side object of `key`, with its bytes when asked; undefined when there is none. */
export async function readTail(ctx: S3Context, key: string, withBytes: boolean): Promise<Tail | undefined> {
  const Key = ctx.keys.tailKey(key);
  try {
    const out = withBytes
      ? await ctx.client.send(new GetObjectCommand({ Bucket: ctx.bucket, Key }))
      : await ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key }));
    const bytes = "Body" in out && out.Body ? Buffer.from(await out.Body.transformToByteArray()) : undefined;
    const meta = out.Metadata ?? {};
    const tail: Tail = {
      size: bytes?.length ?? out.ContentLength ?? 0,
      upload: meta[UPLOAD_META] ?? "",
      parts: Number(meta[PARTS_META] ?? "0"),
      modTime: out.LastModified ?? new Date(),
    };
    if (bytes) tail.bytes = bytes;
    return tail;
  } catch (err) {
    if (isMissingKey(err)) return undefined;
    throw err;
  }
}

export async function putTail(ctx: S3Context, key: string, bytes: Uint8Array, upload: string, parts: number): Promise<void> {
  await ctx.client.send(
    new PutObjectCommand({
      Bucket: ctx.bucket,
      Key: ctx.keys.tailKey(key),
      Body: bytes,
      ...ctx.object,
      Metadata: { [UPLOAD_META]: upload, [PARTS_META]: String(parts) },
    }),
  );
}

/** The multipart uploads whose keys start with `prefix`, oldest first within a key. */
export async function uploadsUnder(ctx: S3Context, prefix: string): Promise<Upload[]> {
  const uploads: Upload[] = [];
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  for (;;) {
    const page = await ctx.client.send(new ListMultipartUploadsCommand({ Bucket: ctx.bucket, Prefix: prefix, KeyMarker, UploadIdMarker }));
    for (const u of page.Uploads ?? []) {
      if (u.Key !== undefined && u.UploadId !== undefined) uploads.push({ key: u.Key, id: u.UploadId, initiated: u.Initiated ?? new Date(0) });
    }
    if (page.IsTruncated !== true) break;
    KeyMarker = page.NextKeyMarker;
    UploadIdMarker = page.NextUploadIdMarker;
  }
  return uploads.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated.getTime() - b.initiated.getTime()));
}

export async function uploadsFor(ctx: S3Context, key: string): Promise<Upload[]> {
  return (await uploadsUnder(ctx, key)).filter((u) => u.key === key);
}

/** The parts that count: contiguous from 1, without a short last part (see above). */
export async function partsOf(ctx: S3Context, upload: Upload): Promise<StoredPart[]> {
  const listed: StoredPart[] = [];
  let PartNumberMarker: string | undefined;
  for (;;) {
    const page = await ctx.client.send(new ListPartsCommand({ Bucket: ctx.bucket, Key: upload.key, UploadId: upload.id, PartNumberMarker }));
    for (const p of page.Parts ?? []) {
      if (p.PartNumber !== undefined && p.ETag !== undefined) listed.push({ PartNumber: p.PartNumber, ETag: p.ETag, Size: p.Size ?? 0 });
    }
    if (page.IsTruncated !== true || page.NextPartNumberMarker === undefined) break;
    PartNumberMarker = page.NextPartNumberMarker;
  }
  listed.sort((a, b) => a.PartNumber - b.PartNumber);
  const parts: StoredPart[] = [];
  for (const p of listed) {
    if (p.PartNumber !== parts.length + 1 || p.Size < MIN_PART_SIZE) break;
    parts.push(p);
  }
  return parts;
}

/** The object's bytes so far, from its side object and the uploads for its key (the newest counts). */
export async function resolve(ctx: S3Context, tail: Tail | undefined, uploads: readonly Upload[]): Promise<Progress> {
  const upload = uploads[uploads.length - 1];
  const parts = upload ? await partsOf(ctx, upload) : [];
  const tailValid = tail !== undefined && tail.parts === parts.length && (parts.length === 0 || tail.upload === upload?.id);
  const size = parts.reduce((sum, p) => sum + p.Size, 0) + (tailValid ? tail.size : 0);
  const progress: Progress = { parts, tailValid, size };
  if (upload) progress.upload = upload;
  if (tail) progress.tail = tail;
  return progress;
}

export async function abortUpload(ctx: S3Context, upload: Upload): Promise<void> {
  try {
    await ctx.client.send(new AbortMultipartUploadCommand({ Bucket: ctx.bucket, Key: upload.key, UploadId: upload.id }));
  } catch (err) {
    if (!isMissingUpload(err)) throw err;
  }
}
