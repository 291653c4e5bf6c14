/**
 * Garbage collection of a bucket two lading replicas serve (src/registry/shared-collection.ts):
 * skopeo pushes through one replica, plain API pushes and lading's client through the other,
 * while `lading gc --config` (a process of its own on the same bucket) collects again and again;
 * every tag then pulls whole through both replicas, and a last collection leaves exactly the
 * blobs the tags reach. Retention rules on the bucket, and a replica collecting on its schedule.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { CollectReport } from "../../src/registry/gc.js";
import { s3StorageOverrides, sleep, startTestServer, type TestServer } from "../api/support.js";
import { useCeph } from "../helpers/ceph.js";
import { requireTools } from "../helpers/exec.js";
import { bigImage, multiLayer, singleLayer } from "../helpers/fixtures.js";
import { buildLayout } from "../helpers/fleet.js";
import { pullWhole, stress, uploadBlob, verifyStress } from "../helpers/gc-stress.js";
import { runLading } from "../helpers/lading-cli.js";
import type { FsckReport } from "../../src/registry/fsck.js";
import { s3Client, uniqueBucketName } from "../helpers/s3.js";
import { Scratch } from "../helpers/scratch.js";
import { Skopeo } from "../helpers/skopeo.js";

requireTools("skopeo", "umoci");

let removeBucket: (() => Promise<void>) | undefined;
after(() => removeBucket?.());
const s3 = await useCeph();
const bucket = uniqueBucketName("lading-gc");
await s3.createBucket(bucket);
removeBucket = () => s3.deleteBucket(bucket);
const raw: S3Client = s3Client(s3);
after(() => raw.destroy());

const ROOT = "/registry";
const BLOBS_PREFIX = "registry/docker/registry/v2/blobs/";
/** Short, so that the collections of a 20-second run are many; the same on every replica and collector. */
const WINDOW = "1s";

/** The digests of every blob in the bucket. */
async function blobsInBucket(): Promise<Set<string>> {
  const found = new Set<string>();
  let token: string | undefined;
  do {
    const page = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: BLOBS_PREFIX, ContinuationToken: token }));
    for (const { Key } of page.Contents ?? []) {
      const [algorithm, , hex, file] = Key!.slice(BLOBS_PREFIX.length).split("/");
      if (file === "data") found.add(`${algorithm}:${hex}`);
    }
    token = page.NextContinuationToken;
  } while (token !== undefined);
  return found;
}

describe("garbage collection of a bucket two replicas serve", { timeout: 300_000 }, () => {
  let scratch: Scratch;
  let skopeo: Skopeo;
  let src: string;
  let config: string;
  const storage = { ...s3StorageOverrides(s3, bucket, ROOT), "storage.redirect.disable": true, "lading.gc.window": WINDOW };

  before(async () => {
    scratch = await Scratch.create("e2e-gc-replicas");
    skopeo = await Skopeo.create(scratch);
    src = scratch.path("src");
    await buildLayout(src, await scratch.dir("work"), { single: singleLayer, multi: multiLayer, doomed: bigImage(1) });
    config = scratch.path("gc.yml");
    const s3Keys = Object.entries(storage)
      .filter(([key]) => key.startsWith("storage.s3."))
      .map(([key, value]) => `    ${key.slice("storage.s3.".length)}: ${JSON.stringify(value)}`);
    await writeFile(config, `storage:\n  s3:\n${s3Keys.join("\n")}\nlading:\n  gc:\n    window: ${WINDOW}\n`);
  });
  after(async () => {
    for (const server of started) await server.close();
    await scratch?.cleanup();
  });

  const started: TestServer[] = [];
  /** A replica on the bucket, as an endpoint for the clients. */
  const replica = async (extra: Record<string, unknown> = {}) => {
    const server = await startTestServer({ ...storage, ...extra });
    started.push(server);
    return { url: server.url, host: `127.0.0.1:${server.port}` };
  };
  let first: { url: string; host: string } | undefined;

  async function gc(...flags: string[]): Promise<CollectReport> {
    return gcWith(config, ...flags);
  }

  async function gcWith(file: string, ...flags: string[]): Promise<CollectReport> {
    const { code, stdout, stderr } = await runLading(["gc", "--config", file, "--json", ...flags]);
    assert.equal(code, 0, `lading gc failed: ${stderr}${stdout}`);
    return JSON.parse(stdout) as CollectReport;
  }

  it("skopeo, lading's client and API pushes through two replicas while lading gc runs again and again; every tag pulls whole through both", async () => {
    const a = (first = await replica());
    const b = await replica();
    const { expected, reports, failedCleanly } = await stress({ skopeo, scratch, layout: src, via: { skopeo: a, api: b, client: b }, collect: () => gc("--grace", "0s", "--delete-untagged"), ms: 20_000 });
    const collected = reports.reduce((n, r) => n + r.blobs.deleted, 0);
    assert.ok(reports.length >= 3, `only ${reports.length} collections ran`);
    assert.ok(collected > 0, "the collections deleted something");
    process.stderr.write(`${reports.length} collections deleted ${collected} blobs; ${failedCleanly} pushes refused cleanly\n`);

    const reached = await verifyStress(a, expected);
    assert.deepEqual([...(await verifyStress(b, expected))].sort(), [...reached].sort());
    const last = await gc("--grace", "0s", "--delete-untagged");
    assert.deepEqual(last.problems, []);
    assert.deepEqual([...(await blobsInBucket())].sort(), [...reached].sort(), "the blobs left are exactly those the tags reach");
    // Both replicas serve what is left, having forgotten what went.
    assert.deepEqual([...(await verifyStress(b, expected))].sort(), [...reached].sort());
  });

  it("lading fsck finds the bucket sound beside its replicas, and repairs what is broken in it", async () => {
    await replica();
    const fsck = async (...flags: string[]) => {
      const { code, stdout, stderr } = await runLading(["fsck", "--config", config, "--json", ...flags]);
      return { code, report: JSON.parse(stdout) as FsckReport, stderr };
    };
    const sound = await fsck();
    assert.equal(sound.code, 0, JSON.stringify(sound.report.problems) + sound.stderr);
    assert.ok(sound.report.blobs.checked > 0 && sound.report.manifests > 0, "it checked what the replicas stored");
    // A tag naming a manifest the bucket does not hold, and an upload whose start time is not a time.
    const repository = `${ROOT.slice(1)}/docker/registry/v2/repositories/stress/api`;
    const ghost = `sha256:${"0".repeat(64)}`;
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: `${repository}/_manifests/tags/ghost/current/link`, Body: ghost }));
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: `${repository}/_uploads/broken/startedat`, Body: "yesterday" }));
    const broken = await fsck();
    assert.equal(broken.code, 4);
    assert.deepEqual(broken.report.problems.map((p) => p.kind).sort(), ["tag-dangling", "upload-malformed"]);
    const repaired = await fsck("--repair");
    assert.equal(repaired.code, 0, JSON.stringify(repaired.report.problems));
    assert.equal(repaired.report.repairedCount, 2);
    assert.equal((await fsck()).code, 0);
  });

  it("applies retention rules to the bucket; the replicas serve what is left", async () => {
    const a = first ?? (await replica());
    const b = await replica();
    for (const [i, image] of ["single", "multi", "doomed"].entries()) {
      await skopeo.copy(`oci:${src}:${image}`, `docker://${a.host}/retained/app:${i + 1}`);
      await sleep(1_100); // a tag's age is its link's modification time, in seconds on S3
    }
    const retention = scratch.path("retention.yml");
    await writeFile(retention, `${await readFile(config, "utf8")}    retention:\n      - repositories: ["retained/**"]\n        keeplast: 1\n`);
    const report = await gcWith(retention, "--grace", "0s");
    assert.deepEqual(report.deletedTags.sort(), ["retained/app:1", "retained/app:2"]);
    assert.equal(report.manifests.deleted, 2);
    for (const server of [a, b]) {
      const tags = (await (await fetch(`${server.url}/v2/retained/app/tags/list`)).json()) as { tags: string[] };
      assert.deepEqual(tags.tags, ["3"]);
      assert.equal((await fetch(`${server.url}/v2/retained/app/manifests/1`, { method: "HEAD" })).status, 404);
    }
    await pullWhole(b, "retained/app", "3", new Set()); // what the tag left reaches is whole
  });

  it("collects on a replica's schedule (lading.gc.enabled) while another serves", async () => {
    const a = first ?? (await replica());
    const garbage = await uploadBlob(a, "scheduled/raw", randomBytes(4096));
    assert.ok((await blobsInBucket()).has(garbage));
    const collector = await replica({ "lading.gc.enabled": true, "lading.gc.interval": "1s", "lading.gc.grace": "0s", "log.level": process.env.GC_LOG ?? "silent" });
    const deadline = Date.now() + 30_000;
    while ((await blobsInBucket()).has(garbage)) {
      assert.ok(Date.now() < deadline, "the scheduled collection did not delete the unreferenced blob within 30 s");
      await sleep(500);
    }
    await sleep(1_000); // the collection's end, which every replica reads within the window
    const metrics = await (await fetch(`${collector.url}/metrics`)).text();
    assert.match(metrics, /lading_gc_runs_total\{outcome="ok",dryrun="false"\} [1-9]/);
    assert.equal((await fetch(`${a.url}/v2/scheduled/raw/blobs/${garbage}`, { method: "HEAD" })).status, 404);
  });
});
