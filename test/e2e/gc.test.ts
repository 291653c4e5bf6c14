/**
 * Garbage collection against real clients and the reference: a store written by docker-registry,
 * collected by lading (through `lading gc`, which the running server carries out), then served and
 * checked by docker-registry and its own collector; and a stress run where skopeo, lading's own
 * client and plain API pushes push, re-tag and delete while `lading gc` runs again and again.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe } from "node:test";
import type { CollectReport } from "../../src/registry/gc.js";
import { requireTools } from "../helpers/exec.js";
import { archImage, bigImage, multiLayer, singleLayer } from "../helpers/fixtures.js";
import { ImageSet } from "../helpers/image-set.js";
import { dockerRegistryGarbageCollect } from "../helpers/registries.js";
import { buildLayout, Fleet } from "../helpers/fleet.js";
import { getBlob, headManifest } from "../helpers/registry-http.js";
import { stress, uploadBlob, verifyStress } from "../helpers/gc-stress.js";
import { runLading } from "../helpers/lading-cli.js";
import { Scratch } from "../helpers/scratch.js";
import { Skopeo } from "../helpers/skopeo.js";
import type { ImageSpec } from "../helpers/umoci.js";

requireTools("docker-registry", "skopeo", "umoci");

const lading = runLading;

async function gc(storage: string, ...flags: string[]): Promise<CollectReport> {
  const { code, stdout, stderr } = await lading(["gc", "--storage", storage, "--json", ...flags]);
  assert.equal(code, 0, `lading gc failed: ${stderr}${stdout}`);
  return JSON.parse(stdout) as CollectReport;
}

/** The digests of every blob in a filesystem store's tree. */
async function blobsInTree(storage: string): Promise<Set<string>> {
  const root = join(storage, "docker/registry/v2/blobs/sha256");
  const found = new Set<string>();
  for (const prefix of await readdir(root).catch(() => [])) for (const hex of await readdir(join(root, prefix))) found.add(`sha256:${hex}`);
  return found;
}

describe("garbage collection with real clients and the reference", { timeout: 300_000 }, () => {
  let scratch: Scratch;
  let skopeo: Skopeo;
  let src: string;
  let children = new Map<string, ImageSpec>();
  const fleet = new Fleet(() => scratch);
  const doomedSpec = bigImage(1);

  before(async () => {
    scratch = await Scratch.create("e2e-gc");
    skopeo = await Skopeo.create(scratch);
    src = scratch.path("src");
    children = await buildLayout(src, await scratch.dir("work"), { single: singleLayer, multi: multiLayer, amd64: archImage("amd64"), arm64: archImage("arm64"), doomed: doomedSpec });
  });
  after(async () => {
    await fleet.stopAll();
    await scratch?.cleanup();
  });

  const { test, start, stop } = fleet;

  test("lading collects a store docker-registry wrote; docker-registry then serves it and its collector finds nothing left", async () => {
    const store = await scratch.dir("interop-store");
    const writer = await start("docker-registry", store);
    const set = new ImageSet(skopeo, scratch, src);
    await set.push(writer, "single", "gc/single:1", singleLayer);
    await set.push(writer, "multi", "gc/team/multi:1", multiLayer);
    await set.pushIndex(writer, "multiarch", "gc/multiarch:1", children);
    const doomed = await set.push(writer, "doomed", "gc/doomed:1", doomedSpec);
    await skopeo.delete(`docker://${writer.host}/gc/doomed:1`);
    set.forget("gc/doomed:1");
    const raw = await uploadBlob(writer, "gc/single", randomBytes(4096));
    await stop(writer);

    const server = await start("lading", store);
    const dry = await gc(store, "--grace", "0s", "--dry-run");
    const report = await gc(store, "--grace", "0s");
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.deletedBlobs.map((b) => b.digest).sort(), report.deletedBlobs.map((b) => b.digest).sort(), "the dry run names what the run deletes");
    const deleted = new Set(report.deletedBlobs.map((b) => b.digest));
    assert.ok(deleted.has(raw), "the raw blob nothing references");
    assert.ok(deleted.has(doomed.digest), "the deleted image's manifest");
    assert.equal(report.blobs.deleted, 4, "the deleted image's manifest, config and layer, and the raw blob");
    assert.deepEqual(report.problems, []);
    await set.verify(server);
    assert.equal((await getBlob(server, "gc/single", raw)).status, 404);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /lading_gc_runs_total\{outcome="ok",dryrun="false"\} 1/);
    assert.match(metrics, /lading_gc_deleted_total\{kind="blob",dryrun="false"\} 4/);
    await stop(server);

    const reader = await start("docker-registry", store);
    await set.verify(reader);
    assert.equal((await headManifest(reader, "gc/doomed", doomed.digest)).status, 404);
    await stop(reader);
    const reference = await dockerRegistryGarbageCollect(store, await scratch.dir("config"));
    assert.match(reference.stdout + reference.stderr, /0 blobs and 0 manifests eligible for deletion/, reference.stdout + reference.stderr);
  });

  test("skopeo, lading's client and API pushes push, re-tag and delete while lading gc runs again and again; every tag left pulls whole", async () => {
    const store = await scratch.dir("stress-store");
    const server = await start("lading", store);
    const { expected, reports, failedCleanly } = await stress({ skopeo, scratch, layout: src, via: { skopeo: server, api: server, client: server }, collect: () => gc(store, "--grace", "0s"), ms: 20_000 });
    const collected = reports.reduce((n, r) => n + r.blobs.deleted, 0);
    assert.ok(reports.length >= 5, `only ${reports.length} collections ran`);
    assert.ok(collected > 0, "the collections deleted something");
    process.stderr.write(`${reports.length} collections deleted ${collected} blobs; ${failedCleanly} pushes refused cleanly\n`);

    // Every tag names what its last acknowledged push named, and pulls whole.
    const reached = await verifyStress(server, expected);
    // A last collection of everything untagged leaves exactly what the tags reach.
    const last = await gc(store, "--grace", "0s", "--delete-untagged");
    assert.deepEqual(last.problems, []);
    await stop(server);
    assert.deepEqual([...(await blobsInTree(store))].sort(), [...reached].sort(), "the blobs left are exactly those the tags reach");
  });

  test("lading logged no server fault (5xx answer or error entry)", async () => {
    assert.equal(fleet.everyLading.length, 2);
    for (const r of fleet.everyLading) assert.deepEqual(r.process.faults, []);
  });
});
