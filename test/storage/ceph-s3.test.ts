/**
 * The tests' S3 server (Ceph's gateway, test/helpers/ceph.ts) does what an S3 storage driver
 * needs, through the AWS SDK set up as test/helpers/s3.ts does; and Debian's docker-registry runs
 * on it, as the peer for tests of the S3 layout.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandInput,
  ListPartsCommand,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { useCeph } from "../helpers/ceph.js";
import { startDockerRegistryOnS3, type RegistryOnS3 } from "../helpers/registry-s3.js";
import { s3Client, uniqueBucketName } from "../helpers/s3.js";

const s3 = await useCeph();
/** The gateway refuses parts below 5 MiB except the last, as S3 does. */
const PART_SIZE = 5 * 1024 * 1024;

async function getBytes(client: S3Client, Bucket: string, Key: string, Range?: string): Promise<{ bytes: Buffer; status: number | undefined; range: string | undefined }> {
  const res = await client.send(new GetObjectCommand({ Bucket, Key, ...(Range === undefined ? {} : { Range }) }));
  const bytes = Buffer.from((await res.Body?.transformToByteArray()) ?? []);
  return { bytes, status: res.$metadata.httpStatusCode, range: res.ContentRange };
}

/** Every key and common prefix the listing returns, following continuation tokens, one page at a time. */
async function listAll(client: S3Client, input: ListObjectsV2CommandInput): Promise<{ keys: string[]; prefixes: string[]; pages: number }> {
  const keys: string[] = [];
  const prefixes: string[] = [];
  let pages = 0;
  let ContinuationToken: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ ...input, ...(ContinuationToken === undefined ? {} : { ContinuationToken }) }));
    pages++;
    keys.push(...(page.Contents ?? []).map((o) => o.Key ?? "?"));
    prefixes.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix ?? "?"));
    ContinuationToken = page.IsTruncated === true ? page.NextContinuationToken : undefined;
  } while (ContinuationToken !== undefined);
  return { keys, prefixes, pages };
}

/** The HTTP status an S3 error carried; fails when the call succeeded. */
async function refusal(call: Promise<unknown>): Promise<{ status: number | undefined; name: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof S3ServiceException) return { status: err.$metadata.httpStatusCode, name: err.name };
    throw err;
  }
  assert.fail("the call succeeded");
}

// Buckets are removed by the suites' own after hooks: those run before the file's, one of which
// stops a private gateway.
describe("the Ceph S3 gateway with the AWS SDK", { timeout: 120_000 }, () => {
  const Bucket = uniqueBucketName("ceph-smoke");
  const client = s3Client(s3);
  before(() => s3.createBucket(Bucket));
  after(async () => {
    await s3.deleteBucket(Bucket);
    client.destroy();
  });

  it("puts, gets, heads and reads a range", async () => {
    const body = Buffer.from("0123456789abcdef");
    await client.send(new PutObjectCommand({ Bucket, Key: "small/one", Body: body }));
    assert.deepEqual((await getBytes(client, Bucket, "small/one")).bytes, body);
    const head = await client.send(new HeadObjectCommand({ Bucket, Key: "small/one" }));
    assert.equal(head.ContentLength, body.length);
    assert.equal(head.ETag, `"${createHash("md5").update(body).digest("hex")}"`);
    const ranged = await getBytes(client, Bucket, "small/one", "bytes=2-5");
    assert.equal(ranged.status, 206);
    assert.equal(ranged.range, `bytes 2-5/${body.length}`);
    assert.equal(ranged.bytes.toString(), "2345");
    assert.equal((await getBytes(client, Bucket, "small/one", "bytes=10-")).bytes.toString(), "abcdef");
    assert.equal((await refusal(client.send(new HeadObjectCommand({ Bucket, Key: "small/missing" })))).status, 404);
  });

  it("copies an object", async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: "copy/source", Body: "copied bytes" }));
    await client.send(new CopyObjectCommand({ Bucket, Key: "copy/target", CopySource: `${Bucket}/copy/source` }));
    assert.equal((await getBytes(client, Bucket, "copy/target")).bytes.toString(), "copied bytes");
  });

  it("lists by delimiter, in pages, after a key; deletes many at once", async () => {
    const keys = ["list/a/1", "list/a/2", "list/b/x/1", "list/c", "list/d", "list/e"];
    for (const Key of keys) await client.send(new PutObjectCommand({ Bucket, Key, Body: Key }));

    const top = await listAll(client, { Bucket, Prefix: "list/", Delimiter: "/" });
    assert.deepEqual(top.keys, ["list/c", "list/d", "list/e"]);
    assert.deepEqual(top.prefixes, ["list/a/", "list/b/"]);

    const paged = await listAll(client, { Bucket, Prefix: "list/", MaxKeys: 2 });
    assert.deepEqual(paged.keys, keys);
    assert.equal(paged.pages, 3);
    const pagedByDelimiter = await listAll(client, { Bucket, Prefix: "list/", Delimiter: "/", MaxKeys: 2 });
    assert.deepEqual([...pagedByDelimiter.prefixes, ...pagedByDelimiter.keys], [...top.prefixes, ...top.keys]);
    assert.ok(pagedByDelimiter.pages >= 3, `${pagedByDelimiter.pages} pages`);

    assert.deepEqual((await listAll(client, { Bucket, Prefix: "list/", StartAfter: "list/b/x/1", MaxKeys: 2 })).keys, ["list/c", "list/d", "list/e"]);

    const deleted = await client.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
    assert.deepEqual(deleted.Errors ?? [], []);
    assert.equal(deleted.Deleted?.length, keys.length);
    assert.deepEqual((await listAll(client, { Bucket, Prefix: "list/" })).keys, []);
  });

  it("assembles a multipart upload from an uploaded part and a copied range; aborts another", async () => {
    const first = randomBytes(PART_SIZE);
    const source = randomBytes(3 * 1024 * 1024);
    await client.send(new PutObjectCommand({ Bucket, Key: "multi/source", Body: source }));

    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: "multi/target" }));
    assert.ok(UploadId !== undefined);
    const one = await client.send(new UploadPartCommand({ Bucket, Key: "multi/target", UploadId, PartNumber: 1, Body: first }));
    const two = await client.send(
      new UploadPartCopyCommand({ Bucket, Key: "multi/target", UploadId, PartNumber: 2, CopySource: `${Bucket}/multi/source`, CopySourceRange: "bytes=1000-1999999" }),
    );
    const listed = await client.send(new ListPartsCommand({ Bucket, Key: "multi/target", UploadId }));
    assert.deepEqual(
      listed.Parts?.map((p) => [p.PartNumber, p.Size]),
      [
        [1, PART_SIZE],
        [2, 1_999_000],
      ],
    );
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: "multi/" }));
    assert.deepEqual(uploads.Uploads?.map((u) => [u.Key, u.UploadId]), [["multi/target", UploadId]]);

    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: "multi/target",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: one.ETag }, { PartNumber: 2, ETag: two.CopyPartResult?.ETag }] },
      }),
    );
    const whole = await getBytes(client, Bucket, "multi/target");
    assert.ok(whole.bytes.equals(Buffer.concat([first, source.subarray(1000, 2_000_000)])));

    const abandoned = await client.send(new CreateMultipartUploadCommand({ Bucket, Key: "multi/abandoned" }));
    await client.send(new UploadPartCommand({ Bucket, Key: "multi/abandoned", UploadId: abandoned.UploadId, PartNumber: 1, Body: "a part" }));
    await client.send(new AbortMultipartUploadCommand({ Bucket, Key: "multi/abandoned", UploadId: abandoned.UploadId }));
    assert.deepEqual((await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: "multi/" }))).Uploads ?? [], []);
    assert.equal((await refusal(client.send(new ListPartsCommand({ Bucket, Key: "multi/abandoned", UploadId: abandoned.UploadId })))).status, 404);
  });

  it("serves a presigned GET to plain fetch", async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: "presigned/blob", Body: "by a signed URL" }));
    const url = await getSignedUrl(client, new GetObjectCommand({ Bucket, Key: "presigned/blob" }), { expiresIn: 300 });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "by a signed URL");
    const tampered = await fetch(url.replace("presigned/blob", "presigned/other"));
    await tampered.arrayBuffer();
    assert.equal(tampered.status, 403);
  });

  it("refuses a PUT with If-None-Match: * over an existing key", async () => {
    await client.send(new PutObjectCommand({ Bucket, Key: "cas/key", Body: "first", IfNoneMatch: "*" }));
    const refused = await refusal(client.send(new PutObjectCommand({ Bucket, Key: "cas/key", Body: "second", IfNoneMatch: "*" })));
    assert.equal(refused.status, 412);
    assert.equal((await getBytes(client, Bucket, "cas/key")).bytes.toString(), "first");
  });
});

describe("docker-registry storing in the gateway", { timeout: 120_000 }, () => {
  const Bucket = uniqueBucketName("ceph-registry");
  const client = s3Client(s3);
  let configDir: string;
  let registry: RegistryOnS3 | undefined;
  before(async () => {
    configDir = await mkdtemp(join(tmpdir(), "lading-registry-s3-"));
    await s3.createBucket(Bucket);
    registry = await startDockerRegistryOnS3(s3, Bucket, configDir);
  });
  after(async () => {
    await registry?.stop();
    await s3.deleteBucket(Bucket);
    client.destroy();
    await rm(configDir, { recursive: true, force: true });
  });

  it("answers /v2/ and keeps a pushed blob under docker/registry/v2/blobs", async () => {
    assert.ok(registry !== undefined);
    const base = await fetch(`${registry.url}/v2/`);
    await base.arrayBuffer();
    assert.equal(base.status, 200);

    const blob = randomBytes(100_000);
    const hex = createHash("sha256").update(blob).digest("hex");
    const started = await fetch(`${registry.url}/v2/smoke/blobs/uploads/`, { method: "POST" });
    await started.arrayBuffer();
    assert.equal(started.status, 202);
    const location = new URL(started.headers.get("location") ?? assert.fail("no Location"), registry.url);
    location.searchParams.set("digest", `sha256:${hex}`);
    const put = await fetch(location, { method: "PUT", body: blob, headers: { "content-type": "application/octet-stream" } });
    assert.equal(put.status, 201, await put.text());

    const { keys } = await listAll(client, { Bucket, Prefix: `${registry.keyPrefix}docker/registry/v2/blobs/` });
    assert.deepEqual(keys, [`docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`]);
    const stored = await getBytes(client, Bucket, keys[0] ?? "");
    assert.ok(stored.bytes.equals(blob));

    const fetched = await fetch(`${registry.url}/v2/smoke/blobs/sha256:${hex}`);
    assert.equal(fetched.status, 200);
    assert.ok(Buffer.from(await fetched.arrayBuffer()).equals(blob));
  });
});
