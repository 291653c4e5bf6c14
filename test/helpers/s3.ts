/**
 * Talking to the tests' S3 server (./ceph.ts) with the AWS SDK, set up as Ceph 16's gateway needs
 * (../../shared/notes/ceph-s3.md): path-style addressing, and checksums only where an operation
 * requires one, because the gateway answers the SDK's default aws-chunked uploads with trailing
 * checksums with 411.
 *
 * The SDK for JavaScript does not read AWS_CA_BUNDLE (this machine's environment sets it; Go's
 * SDK panics on it), and settings given here take precedence over AWS_* variables.
 */
import { randomBytes } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";

/** Where an S3 server is, and who to be there. */
export interface S3Access {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly region: string;
}

/** A client for `access` with the settings the gateway needs. Destroy it when done (it keeps sockets open). */
export function s3Client(access: S3Access): S3Client {
  return new S3Client({
    endpoint: access.endpoint,
    region: access.region,
    credentials: { accessKeyId: access.accessKey, secretAccessKey: access.secretKey },
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/**
 * A bucket name no other test file (nor another run sharing the gateway) uses: `prefix`, this
 * process and a random part, within S3's rules (3-63 of [a-z0-9-]).
 */
export function uniqueBucketName(prefix: string): string {
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, "-")}-${process.pid}-${randomBytes(4).toString("hex")}`;
  if (name.length > 63) throw new Error(`bucket prefix too long: ${prefix}`);
  return name;
}

export async function createBucket(client: S3Client, name: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: name }));
}

/** Aborts the bucket's unfinished multipart uploads, deletes every object, then the bucket. */
export async function deleteBucket(client: S3Client, name: string): Promise<void> {
  await abortUploads(client, name);
  await deleteObjects(client, name);
  await client.send(new DeleteBucketCommand({ Bucket: name }));
}

async function abortUploads(client: S3Client, bucket: string): Promise<void> {
  let KeyMarker: string | undefined;
  let UploadIdMarker: string | undefined;
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker, UploadIdMarker }));
    for (const upload of page.Uploads ?? []) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }));
    }
    if (page.IsTruncated !== true) return;
    KeyMarker = page.NextKeyMarker;
    UploadIdMarker = page.NextUploadIdMarker;
  }
}

async function deleteObjects(client: S3Client, bucket: string): Promise<void> {
  // Listing again from the start after each deletion: what was deleted no longer shows.
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
    if (keys.length === 0) return;
    const result = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    const failed = result.Errors ?? [];
    if (failed.length > 0) throw new Error(`emptying bucket ${bucket}: ${failed.map((e) => `${e.Key ?? "?"}: ${e.Code ?? "?"}`).join(", ")}`);
  }
}
