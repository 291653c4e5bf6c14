import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { MIN_PART_SIZE, type S3Context } from "./config.js";
import { eachLimited } from "./limit.js";
import { abortUpload, type StoredPart, type Upload } from "./progress.js";

/** S3's largest part, and largest single copy. */
const MAX_PART_SIZE = 5 * 1024 ** 3;

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** `x-amz-copy-source`: the bucket and the key, URL-encoded (slashes kept). */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, "/")}`;
}

/**
 * `size` bytes cut into ranges of `chunk`. With `allFull`, the parts are not the upload's last, so
 * every one must reach S3's minimum: a short last range joins the one before (halved again if that
 * passes S3's maximum).
 */
export function copyRanges(size: number, chunk: number, allFull: boolean): ByteRange[] {
  const ranges: ByteRange[] = [];
  for (let start = 0; start < size; start += chunk) ranges.push({ start, end: Math.min(start + chunk, size) - 1 });
  const last = ranges[ranges.length - 1];
  const before = ranges[ranges.length - 2];
  if (allFull && last && before && last.end - last.start + 1 < MIN_PART_SIZE) {
    ranges.pop();
    before.end = last.end;
    const length = before.end - before.start + 1;
    if (length > MAX_PART_SIZE) {
      const half = before.start + Math.floor(length / 2);
      ranges.push({ start: half, end: before.end });
      before.end = half - 1;
    }
  }
  return ranges;
}

/** Copies `ranges` of `sourceKey` into the upload as parts from `firstPart` on, at most `multipartcopymaxconcurrency` at once. */
export async function copyParts(ctx: S3Context, sourceKey: string, upload: Upload, ranges: readonly ByteRange[], firstPart: number): Promise<StoredPart[]> {
  const parts: StoredPart[] = [];
  await eachLimited(ranges, ctx.copy.concurrency, async (range, i) => {
    const PartNumber = firstPart + i;
    const out = await ctx.client.send(
      new UploadPartCopyCommand({
        Bucket: ctx.bucket,
        Key: upload.key,
        UploadId: upload.id,
        PartNumber,
        CopySource: copySource(ctx.bucket, sourceKey),
        CopySourceRange: `bytes=${range.start}-${range.end}`,
      }),
    );
    const ETag = out.CopyPartResult?.ETag;
    if (ETag === undefined) throw new Error(`S3 returned no ETag for part ${PartNumber} copied from ${sourceKey}`);
    parts[i] = { PartNumber, ETag, Size: range.end - range.start + 1 };
  });
  return parts;
}

/**
 * Copies an object within the bucket: one CopyObject up to `multipartcopythresholdsize`, above it
 * a multipart copy in parallel parts (the only way past S3's 5 GiB limit on CopyObject). Either
 * way the destination appears whole or not at all.
 */
export async function copyObject(ctx: S3Context, sourceKey: string, destKey: string, size: number): Promise<void> {
  const { ContentType: _contentType, ...params } = ctx.object;
  if (size <= ctx.copy.threshold) {
    await ctx.client.send(new CopyObjectCommand({ Bucket: ctx.bucket, Key: destKey, CopySource: copySource(ctx.bucket, sourceKey), ...params }));
    return;
  }
  const created = await ctx.client.send(new CreateMultipartUploadCommand({ Bucket: ctx.bucket, Key: destKey, ...ctx.object }));
  if (created.UploadId === undefined) throw new Error(`S3 returned no upload id for ${destKey}`);
  const upload: Upload = { key: destKey, id: created.UploadId, initiated: new Date() };
  try {
    const parts = await copyParts(ctx, sourceKey, upload, copyRanges(size, ctx.copy.chunkSize, false), 1);
    await ctx.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: ctx.bucket,
        Key: destKey,
        UploadId: upload.id,
        MultipartUpload: { Parts: parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
      }),
    );
  } catch (err) {
    await abortUpload(ctx, upload).catch(() => {});
    throw err;
  }
}
