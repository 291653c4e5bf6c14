/**
 * The S3 driver against a real gateway (Ceph's RADOS Gateway, ../helpers/ceph.ts): the whole
 * driver suite, then what only S3 has: multipart uploads continued by another replica, side
 * objects, multipart copies, presigned redirects, stale-upload purging, credential errors, and
 * bounded memory while streaming. Parts are 5 MiB (S3's minimum) so that small blobs span several.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { after, before, describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { CreateMultipartUploadCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, ListObjectsV2Command, type ListObjectsV2CommandInput, type S3Client } from "@aws-sdk/client-s3";
import { configSchema, s3Storage } from "../../src/config/schema.js";
import { checked } from "../../src/storage/base.js";
import { PathNotFoundError, StorageError, type StorageDriver } from "../../src/storage/driver.js";
import { pageOf } from "../../src/storage/page.js";
import { s3Options, type S3Context, type S3Settings } from "../../src/storage/s3/config.js";
import { S3Driver } from "../../src/storage/s3/driver.js";
import type { PartPool } from "../../src/storage/s3/pool.js";
import { KeyMap, TAIL_SUFFIX } from "../../src/storage/s3/keys.js";
import { listNames } from "../../src/storage/s3/list.js";
import { useCeph, type S3Server } from "../helpers/ceph.js";
import { s3Client, uniqueBucketName } from "../helpers/s3.js";
import { driverSuite } from "./suite.js";
import { purgeUploads } from "../../src/registry/purge.js";
import { repositoriesRoot } from "../../src/storage/paths.js";

const MiB = 1024 * 1024;

// Registered before useCeph's own hook (hooks run in order): the bucket goes before a private gateway stops.
let removeBucket: (() => Promise<void>) | undefined;
after(() => removeBucket?.());
const s3: S3Server = await useCeph();
const bucket = uniqueBucketName("lading-s3-driver");
await s3.createBucket(bucket);
removeBucket = () => s3.deleteBucket(bucket);
const raw: S3Client = s3Client(s3);
after(() => raw.destroy());

function settings(overrides: Record<string, unknown>): S3Settings {
  return s3Storage.parse({
    regionendpoint: s3.endpoint,
    region: s3.region,
    bucket,
    accesskey: s3.accessKey,
    secretkey: s3.secretKey,
    chunksize: 5 * MiB,
    ...overrides,
  });
}

/** Drivers made by a test, closed when the file is done. */
const opened: S3Driver[] = [];
after(() => Promise.all(opened.map((d) => d.close())));
async function open(rootdirectory: string, overrides: Record<string, unknown> = {}): Promise<S3Driver> {
  const driver = await S3Driver.open(settings({ rootdirectory, ...overrides }));
  opened.push(driver);
  return driver;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const out = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }));
    keys.push(...(out.Contents ?? []).map((o) => o.Key!));
    ContinuationToken = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (ContinuationToken !== undefined);
  return keys;
}

async function uploadsUnder(prefix: string): Promise<string[]> {
  const out = await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (out.Uploads ?? []).map((u) => u.Key!);
}

async function etagOf(key: string): Promise<string> {
  return (await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ETag ?? "";
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function write(d: StorageDriver, path: string, data: Buffer, end: "close" | "commit", append = true): Promise<number> {
  const w = await d.writer(path, { append });
  // Slices of 1 MiB, as a request body arrives in pieces.
  const pieces = Array.from({ length: Math.ceil(data.length / MiB) }, (_, i) => data.subarray(i * MiB, (i + 1) * MiB));
  await pipeline(Readable.from(pieces), w.stream);
  await w[end]();
  return w.size;
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

driverSuite("s3", async () => {
  const driver = await open("/suite-root/");
  const keys = new KeyMap("/suite-root/");
  return {
    driver,
    cleanup: async () => {},
    // The bucket as listed behind the driver's back: side objects map to their object's path, so a
    // leftover shows up twice or unexpected; no multipart upload may be left unfinished.
    backendFiles: async () => {
      assert.deepEqual(await uploadsUnder(keys.root), [], "multipart uploads left behind");
      return (await keysUnder(keys.root)).map((k) => keys.pathOf(k) ?? `outside the root: ${k}`);
    },
  };
});

describe("s3 driver: keys and writers", () => {
  it("maps paths to registry:2's keys: the root without outer slashes, then the path", async () => {
    const cases: Array<[string, string]> = [
      ["", "docker/registry/v2/k1"],
      ["/", "docker/registry/v2/k2"],
      ["/reg/", "reg/docker/registry/v2/k3"],
      ["reg", "reg/docker/registry/v2/k4"],
      ["/a/b//", "a/b/docker/registry/v2/k5"],
    ];
    for (const [i, [root, key]] of cases.entries()) {
      const d = checked(await open(root));
      await d.putContent(`/docker/registry/v2/k${i + 1}`, Buffer.from("x"));
      assert.equal(await etagOf(key), `"${md5Hex("x")}"`, key);
      await d.delete(`/docker/registry/v2/k${i + 1}`);
    }
  });

  it("lists the root of an empty store as empty, and stats it as a directory", async () => {
    const d = checked(await open("/empty-root/"));
    assert.deepEqual(await d.list("/"), []);
    assert.equal((await d.stat("/")).isDir, true);
    await assert.rejects(d.list("/docker"), PathNotFoundError);
  });

  it("continues an upload from another replica, invisible at its key until committed", async () => {
    const [a, b] = [checked(await open("/replicas/")), checked(await open("/replicas/"))];
    const key = "replicas/up/data";
    const data = randomBytes(13 * MiB);
    assert.equal(await write(a, "/up/data", data.subarray(0, 7 * MiB), "close"), 7 * MiB);
    // One part of 5 MiB in the upload, 2 MiB in the side object, nothing at the key.
    assert.deepEqual(await uploadsUnder(key), [key]);
    assert.deepEqual(await keysUnder("replicas/up/"), [key + TAIL_SUFFIX]);
    assert.equal((await b.stat("/up/data")).size, 7 * MiB);
    assert.deepEqual(await b.list("/up"), ["data"]);

    // S3 cannot read an unfinished part: the bytes are readable once committed.
    await assert.rejects(b.getContent("/up/data"), /readable once committed/);
    assert.equal(await write(b, "/up/data", data.subarray(7 * MiB, 11 * MiB), "close"), 11 * MiB);
    assert.equal((await a.stat("/up/data")).size, 11 * MiB);
    await assert.rejects(raw.send(new HeadObjectCommand({ Bucket: bucket, Key: key })), { name: "NotFound" });

    assert.equal(await write(a, "/up/data", data.subarray(11 * MiB), "commit"), 13 * MiB);
    assert.equal(sha256(await readAll(await b.reader("/up/data"))), sha256(data));
    assert.match(await etagOf(key), /-3"$/);
    assert.deepEqual(await keysUnder("replicas/up/"), [key]);
    assert.deepEqual(await uploadsUnder(key), []);
    await a.delete("/up");
  });

  it("commits an object that never filled a part with one PutObject, closed in between or not", async () => {
    const d = checked(await open("/small/"));
    const data = randomBytes(300 * 1024);
    await write(d, "/one/data", data, "commit", false);
    assert.doesNotMatch(await etagOf("small/one/data"), /-/);
    await write(d, "/two/data", data.subarray(0, 1000), "close");
    await write(d, "/two/data", data.subarray(1000), "commit");
    assert.doesNotMatch(await etagOf("small/two/data"), /-/);
    assert.ok((await d.getContent("/two/data")).equals(data));
    assert.deepEqual(await uploadsUnder("small/"), []);
    assert.deepEqual((await keysUnder("small/")).sort(), ["small/one/data", "small/two/data"]);
    await d.delete("/one");
    await d.delete("/two");
  });

  it("cancel leaves nothing: no object, side object nor upload", async () => {
    const d = checked(await open("/cancel/"));
    await write(d, "/c/data", randomBytes(12 * MiB), "close");
    assert.deepEqual(await uploadsUnder("cancel/"), ["cancel/c/data"]);
    const w = await d.writer("/c/data", { append: true });
    assert.equal(w.size, 12 * MiB);
    await pipeline(Readable.from([randomBytes(MiB)]), w.stream);
    await w.cancel();
    assert.deepEqual(await keysUnder("cancel/"), []);
    assert.deepEqual(await uploadsUnder("cancel/"), []);
    await assert.rejects(d.stat("/c/data"), PathNotFoundError);
  });

  it("deletes an object being written with its upload, and a directory holding one", async () => {
    const d = checked(await open("/deleting/"));
    await write(d, "/x/data", randomBytes(6 * MiB), "close");
    await write(d, "/y/z/data", randomBytes(6 * MiB), "close");
    await d.delete("/x/data");
    await d.delete("/y");
    assert.deepEqual(await keysUnder("deleting/"), []);
    assert.deepEqual(await uploadsUnder("deleting/"), []);
  });

  it("appends to a committed object bigger than a part by copying it into the first parts", async () => {
    const d = checked(await open("/grow/"));
    const first = randomBytes(11 * MiB);
    const second = randomBytes(2 * MiB);
    await d.putContent("/g/data", first);
    assert.equal(await write(d, "/g/data", second, "commit"), 13 * MiB);
    assert.equal(sha256(await d.getContent("/g/data")), sha256(Buffer.concat([first, second])));
    await d.delete("/g");
    assert.deepEqual(await uploadsUnder("grow/"), []);
  });
});

/** The driver's own client, to make one of its requests fail as if every retry had. */
function poolOf(driver: S3Driver): PartPool {
  return (driver as unknown as { ctx: S3Context }).ctx.parts;
}

function failOnce(driver: S3Driver, command: string, nth = 1): void {
  let seen = 0;
  const client = (driver as unknown as { ctx: S3Context }).ctx.client;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === command && ++seen === nth) throw new Error(`injected ${command} failure`);
      return next(args);
    },
    { step: "initialize" },
  );
}

describe("s3 driver: failures keep whole parts", () => {
  it("a failed completion keeps its bytes for close(), and the next writer commits them", async () => {
    const driver = await open("/failing-complete/");
    const d = checked(driver);
    const data = randomBytes(12 * MiB);
    const w = await d.writer("/f/data");
    await pipeline(Readable.from([data]), w.stream);
    failOnce(driver, "CompleteMultipartUploadCommand");
    await assert.rejects(w.commit(), /injected/);
    await w.close();
    // The last part the commit uploaded is under 5 MiB: not counted, its bytes are in the side object.
    assert.equal((await d.stat("/f/data")).size, 12 * MiB);
    assert.equal(await write(d, "/f/data", Buffer.alloc(0), "commit"), 12 * MiB);
    assert.equal(sha256(await d.getContent("/f/data")), sha256(data));
    await d.delete("/f");
    assert.deepEqual([...(await keysUnder("failing-complete/")), ...(await uploadsUnder("failing-complete/"))], []);
  });

  it("a failed part among several under way leaves the object at the whole parts before it", async () => {
    const driver = await open("/failing-parallel/");
    const d = checked(driver);
    const data = randomBytes(23 * MiB);
    // Parts 1 to 4 go out side by side; the second fails, the ones after it are stored but do not count.
    failOnce(driver, "UploadPartCommand", 2);
    const w = await d.writer("/f/data");
    await assert.rejects(pipeline(Readable.from([data]), w.stream), /injected/);
    await assert.rejects(w.close(), /injected/);
    const [upload] = (await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: "failing-parallel/" }))).Uploads ?? [];
    const stored = await raw.send(new ListPartsCommand({ Bucket: bucket, Key: upload!.Key, UploadId: upload!.UploadId }));
    assert.deepEqual((stored.Parts ?? []).map((p) => p.PartNumber), [1, 3, 4], "the parts after the failed one went out beside it");
    assert.equal((await d.stat("/f/data")).size, 5 * MiB);
    assert.equal(await write(d, "/f/data", data.subarray(5 * MiB), "commit"), 23 * MiB);
    assert.equal(sha256(await d.getContent("/f/data")), sha256(data));
    assert.equal(poolOf(driver).inUse, 0, "every part buffer came back");
    await d.delete("/f");
  });

  it("a failed part upload leaves the object at its last whole part", async () => {
    const driver = await open("/failing-part/");
    const d = checked(driver);
    const data = randomBytes(12 * MiB);
    failOnce(driver, "UploadPartCommand", 2);
    const w = await d.writer("/f/data");
    await assert.rejects(pipeline(Readable.from([data.subarray(0, 6 * MiB), data.subarray(6 * MiB)]), w.stream), /injected/);
    await assert.rejects(w.close(), /injected/);
    assert.equal((await d.stat("/f/data")).size, 5 * MiB);
    assert.equal(await write(d, "/f/data", data.subarray(5 * MiB), "commit"), 12 * MiB);
    assert.equal(sha256(await d.getContent("/f/data")), sha256(data));
    await d.delete("/f");
  });
});

/**
 * ListObjectsV2 over `keys` as S3 answers it (key order, common prefixes, StartAfter), `pageSize`
 * entries a page: enough to check that a page of names stays right across listing pages.
 */
function fakeLister(keys: readonly string[], pageSize: number): S3Context {
  const sorted = [...keys].sort();
  const send = async (command: { input: ListObjectsV2CommandInput }) => {
    const { Prefix = "", Delimiter, ContinuationToken } = command.input;
    const [from, startAfter] = ContinuationToken === undefined ? [0, command.input.StartAfter] : (JSON.parse(ContinuationToken) as [number, string | undefined]);
    const entries: Array<{ key: string; dir: boolean }> = [];
    for (const key of sorted) {
      if (!key.startsWith(Prefix) || (startAfter !== undefined && key <= startAfter)) continue;
      const cut = Delimiter === undefined ? -1 : key.indexOf(Delimiter, Prefix.length);
      const entry = cut === -1 ? { key, dir: false } : { key: key.slice(0, cut + 1), dir: true };
      if (entries[entries.length - 1]?.key !== entry.key) entries.push(entry);
    }
    const page = entries.slice(from, from + pageSize);
    const more = from + pageSize < entries.length;
    return {
      Contents: page.filter((e) => !e.dir).map((e) => ({ Key: e.key })),
      CommonPrefixes: page.filter((e) => e.dir).map((e) => ({ Prefix: e.key })),
      IsTruncated: more,
      ...(more ? { NextContinuationToken: JSON.stringify([from + pageSize, startAfter]) } : {}),
    };
  };
  return { ...s3Options(settings({})), client: { send } as unknown as S3Client, warn: () => {} };
}

describe("s3 driver: listing pages", () => {
  it("pages names in ASCII order although S3 lists directory v1/ after v1-x and v1.0", async () => {
    const children = ["a", "a" + TAIL_SUFFIX, "b-1", "b/x", "c" + TAIL_SUFFIX, "v1-alpine/x", "v1.0.1", "v1.0/x", "v1/x", "v1/y/z", "v1a", "w/y"];
    const names = ["a", "b", "b-1", "c", "v1", "v1-alpine", "v1.0", "v1.0.1", "v1a", "w"];
    const keys = [...children.map((c) => `r/p/${c}`), "r/other", "r/pp/x"];
    for (const pageSize of [1, 2, 3, 1000]) {
      const ctx = fakeLister(keys, pageSize);
      for (const after of [undefined, ...names, "b0", "v1-", "zz"]) {
        for (const limit of [undefined, 1, 2, 3, 5]) {
          const page = { ...(after !== undefined ? { after } : {}), ...(limit !== undefined ? { limit } : {}) };
          assert.deepEqual(await listNames(ctx, "r/p/", page), pageOf(names, page), JSON.stringify({ pageSize, ...page }));
        }
      }
      assert.equal(await listNames(ctx, "r/q/", undefined), undefined);
      assert.equal(await listNames(ctx, "r/q/", { after: "a" }), undefined);
      assert.deepEqual(await listNames(ctx, "r/p/", { after: "zz" }), []);
    }
  });
});

describe("s3 driver: moves, redirects, stale uploads", () => {
  it("moves above the multipart-copy threshold in parts, below it with one copy", async () => {
    const d = checked(await open("/moves/", { multipartcopythresholdsize: 6 * MiB, multipartcopychunksize: 5 * MiB }));
    const big = randomBytes(13 * MiB);
    await d.putContent("/src/big", big);
    await d.putContent("/src/small", Buffer.from("small"));
    await d.move("/src/big", "/dst/big");
    assert.match(await etagOf("moves/dst/big"), /-3"$/);
    assert.equal(sha256(await d.getContent("/dst/big")), sha256(big));
    await d.move("/src/small", "/dst/small");
    assert.doesNotMatch(await etagOf("moves/dst/small"), /-/);
    await assert.rejects(d.stat("/src/big"), PathNotFoundError);
    // A directory moves with everything beneath it.
    await d.move("/dst", "/moved");
    assert.deepEqual(await keysUnder("moves/"), ["moves/moved/big", "moves/moved/small"]);
    assert.equal(sha256(await d.getContent("/moved/big")), sha256(big));
    assert.deepEqual(await uploadsUnder("moves/"), []);
    await d.delete("/moved");
  });

  it("redirects to a presigned URL that fetch can GET", async () => {
    const d = checked(await open("/redirect/"));
    const data = randomBytes(100_000);
    await d.putContent("/r/data", data);
    const url = await d.capabilities.redirect!("/r/data", 60);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
    await d.delete("/r");
  });

  it("aborts multipart uploads under a directory started before a given time", async () => {
    const driver = await open("/stale/");
    const d = checked(driver);
    await write(d, "/a/one/data", randomBytes(6 * MiB), "close");
    await write(d, "/b/two/data", randomBytes(6 * MiB), "close");
    assert.deepEqual(await driver.abortStaleUploads("/a", new Date(Date.now() - 3_600_000)), []);
    assert.deepEqual(await driver.abortStaleUploads("/a", new Date(Date.now() + 5_000)), ["/a/one/data"]);
    assert.deepEqual(await uploadsUnder("stale/"), ["stale/b/two/data"]);
    assert.deepEqual(await driver.abortStaleUploads("/", new Date(Date.now() + 5_000)), ["/b/two/data"]);
    assert.deepEqual(await uploadsUnder("stale/"), []);
    await d.delete("/a");
    await d.delete("/b");
  });

  it("upload purging aborts a multipart upload no session names any more", async () => {
    const driver = await open("/purge/");
    const d = checked(driver);
    // A multipart upload whose session is gone (a registry that crashed, or one that never aborts).
    const orphan = `${repositoriesRoot}/app/_uploads/gone/data`;
    await raw.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `purge${orphan}` }));
    await write(d, `${repositoriesRoot}/app/_uploads/old/data`, randomBytes(6 * MiB), "close");
    const result = await purgeUploads(d, new Date(Date.now() + 5_000));
    assert.ok(result.purged.includes("app/old"), JSON.stringify(result));
    assert.ok(result.purged.includes(orphan), JSON.stringify(result));
    assert.deepEqual(await uploadsUnder("purge/"), [], "no multipart upload is left behind");
  });
});

describe("s3 driver: errors and configuration", () => {
  it("turns bad credentials and a missing bucket into StorageErrors saying so", async () => {
    await assert.rejects(S3Driver.open(settings({ secretkey: "wrong-secret" })), (err: unknown) => err instanceof StorageError && /opening bucket .*credentials \(SignatureDoesNotMatch\)/.test(err.message));
    await assert.rejects(S3Driver.open(settings({ accesskey: "NOSUCHKEY0000000000" })), (err: unknown) => err instanceof StorageError && /credentials \(InvalidAccessKeyId\)/.test(err.message));
    await assert.rejects(S3Driver.open(settings({ bucket: uniqueBucketName("absent") })), (err: unknown) => err instanceof StorageError && /does not exist/.test(err.message));
    await assert.rejects(S3Driver.open(settings({ regionendpoint: "http://127.0.0.1:1" })), (err: unknown) => err instanceof StorageError && /cannot reach S3 at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/.test(err.message));
    const unchecked = new S3Driver(settings({ secretkey: "wrong-secret" }));
    try {
      await assert.rejects(checked(unchecked).getContent("/x"), (err: unknown) => err instanceof StorageError && /^s3: getContent \/x: S3 rejected the credentials/.test(err.message));
    } finally {
      await unchecked.close();
    }
  });

  it("takes registry:2's s3 keys, refusing what it cannot do by name", () => {
    const base = { bucket: "b", region: "us-east-1" };
    const issue = (s3Section: Record<string, unknown>) => {
      const result = configSchema.safeParse({ storage: { s3: { ...base, ...s3Section } } });
      return result.success ? "" : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    };
    assert.equal(issue({}), "");
    assert.match(issue({ v4auth: false }), /storage\.s3\.v4auth: SigV2/);
    assert.match(issue({ keyid: "k" }), /storage\.s3\.keyid: .*encrypt/);
    assert.match(issue({ chunksize: 1024 }), /storage\.s3\.chunksize: must be at least 5242880/);
    assert.match(issue({ loglevel: "debug" }), /storage\.s3\.loglevel/);
    assert.match(issue({ accesskey: "a" }), /storage\.s3\.secretkey/);
    assert.match(issue({ regionendpoint: "http://h:1", usedualstack: true }), /storage\.s3\.usedualstack/);
    assert.match(issue({ regionendpoint: "http://h:1", secure: true }), /storage\.s3\.secure/);
    assert.match(issue({ region: undefined }), /storage\.s3\.region: required/);
    assert.match(configSchema.safeParse({ storage: { inmemory: null, s3: base } }).error?.issues[0]?.message ?? "", /exactly one storage driver/);
    const parsed = s3Storage.parse({ ...base, chunksize: "6291456", storageclass: "none", encrypt: "true" });
    assert.equal(parsed.chunksize, 6 * MiB);
    assert.equal(parsed.storageclass, "NONE");
    assert.equal(parsed.multipartcopythresholdsize, 32 * MiB);
  });
});

describe("s3 driver: memory", () => {
  let gc: () => void;
  before(() => {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
  });

  it("shares its part buffers among writers: with room for one part, writers at once all finish", async () => {
    const driver = await open("/pool/", { uploadmemory: 5 * MiB });
    const d = checked(driver);
    const blobs = Array.from({ length: 3 }, () => randomBytes(12 * MiB));
    const small = randomBytes(64 * 1024);
    // Three committed, one closed halfway (its part and tail kept), one cancelled, one too small to need a part.
    const closed = randomBytes(8 * MiB);
    const cancelled = randomBytes(7 * MiB);
    await Promise.all([
      ...blobs.map((blob, i) => write(d, `/p/${i}`, blob, "commit")),
      write(d, "/p/closed", closed, "close"),
      (async () => {
        const w = await d.writer("/p/cancelled");
        await pipeline(Readable.from([cancelled]), w.stream);
        await w.cancel();
      })(),
      write(d, "/p/small", small, "commit"),
    ]);
    for (const [i, blob] of blobs.entries()) assert.equal(sha256(await d.getContent(`/p/${i}`)), sha256(blob));
    assert.equal(sha256(await d.getContent("/p/small")), sha256(small));
    assert.equal((await d.stat("/p/closed")).size, closed.length);
    await assert.rejects(d.stat("/p/cancelled"), PathNotFoundError);
    assert.equal(poolOf(driver).inUse, 0, "every part buffer came back");
    await d.delete("/p");
  });

  it("refuses an uploadmemory that holds no part", () => {
    assert.throws(() => settings({ uploadmemory: MiB }), /uploadmemory[\s\S]*at least one part/);
  });

  it("streams 256 MiB with the process's memory growing by its part buffers, not by the object", async (t) => {
    const d = checked(await open("/memory/"));
    const piece = randomBytes(MiB);
    const total = 256 * MiB;
    gc();
    const baseline = process.memoryUsage.rss();
    let peak = baseline;
    const sample = () => (peak = Math.max(peak, process.memoryUsage.rss()));
    const timer = setInterval(sample, 20);
    try {
      const w = await d.writer("/m/data");
      await pipeline(
        Readable.from(
          (function* () {
            for (let sent = 0; sent < total; sent += MiB) {
              sample();
              yield piece;
            }
          })(),
        ),
        w.stream,
      );
      await w.commit();
    } finally {
      clearInterval(timer);
    }
    assert.equal((await d.stat("/m/data")).size, total);
    const growth = `RSS grew by ${((peak - baseline) / MiB).toFixed(1)} MiB`;
    t.diagnostic(growth);
    assert.ok(peak - baseline < 64 * MiB, growth);
    await d.delete("/m");
  });
});

/** The ETag S3 gives an object stored by one PUT: the MD5 of its bytes. */
function md5Hex(text: string): string {
  return createHash("md5").update(text).digest("hex");
}
