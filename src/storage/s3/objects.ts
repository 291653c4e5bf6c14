import { DeleteObjectsCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import type { S3Context } from "./config.js";
import { isMissingKey } from "./errors.js";

export interface ObjectHead {
  size: number;
  modTime: Date;
  etag: string;
}

/** The committed object at `key`, or undefined. */
export async function headObject(ctx: S3Context, key: string): Promise<ObjectHead | undefined> {
  try {
    const out = await ctx.client.send(new HeadObjectCommand({ Bucket: ctx.bucket, Key: key }));
    return { size: out.ContentLength ?? 0, modTime: out.LastModified ?? new Date(), etag: out.ETag ?? "" };
  } catch (err) {
    if (isMissingKey(err)) return undefined;
    throw err;
  }
}

/** S3's limit on one DeleteObjects request. */
export const DELETE_BATCH = 1000;

/** Deletes keys, a thousand per request; keys already gone count as deleted. */
export async function deleteKeys(ctx: S3Context, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    const batch = keys.slice(i, i + DELETE_BATCH).map((Key) => ({ Key }));
    const out = await ctx.client.send(new DeleteObjectsCommand({ Bucket: ctx.bucket, Delete: { Objects: batch, Quiet: true } }));
    const failed = out.Errors ?? [];
    if (failed.length > 0) {
      throw new Error(`S3 did not delete ${failed.map((e) => `${e.Key ?? "?"} (${e.Code ?? "?"}: ${e.Message ?? ""})`).join(", ")}`);
    }
  }
}
