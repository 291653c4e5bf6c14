/**
 * Storage interop with the reference registry (Debian's docker-registry 2.8): a storage folder
 * written by one server is served unchanged by the other, in both directions. Images go in with
 * skopeo, come out with skopeo, and are compared by manifest bytes and unpacked files; catalog and
 * tag lists must agree (docker-registry does not sort tags: compared as sets).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe } from "node:test";
import { requireTools } from "../helpers/exec.js";
import { runLading } from "../helpers/lading-cli.js";
import { archImage, bigImage, multiLayer, singleLayer } from "../helpers/fixtures.js";
import { ImageSet } from "../helpers/image-set.js";
import { sha256 } from "../helpers/oci-layout.js";
import { dockerRegistryGarbageCollect, type RunningRegistry } from "../helpers/registries.js";
import { buildLayout, Fleet } from "../helpers/fleet.js";
import { catalog, deleteManifest, getBlob, headManifest, pushBlobChunked, tags } from "../helpers/registry-http.js";
import { Scratch } from "../helpers/scratch.js";
import { Skopeo } from "../helpers/skopeo.js";
import type { ImageSpec } from "../helpers/umoci.js";

requireTools("docker-registry", "skopeo", "umoci");

const specs: Record<string, ImageSpec> = {
  single: singleLayer,
  multi: multiLayer,
  amd64: archImage("amd64"),
  arm64: archImage("arm64"),
  big: bigImage(3),
};

/** Raw blobs uploaded by hand: empty, one byte, and an odd size across chunk boundaries. */
const blobs = [Buffer.alloc(0), Buffer.from("x"), randomBytes(1024 * 1024 + 17)];

describe("storage interop with docker-registry", { timeout: 120_000 }, () => {
  let scratch: Scratch;
  let skopeo: Skopeo;
  let src: string;
  let children = new Map<string, ImageSpec>();
  const fleet = new Fleet(() => scratch);

  before(async () => {
    scratch = await Scratch.create("e2e-interop");
    skopeo = await Skopeo.create(scratch);
    src = scratch.path("src");
    children = await buildLayout(src, await scratch.dir("work"), specs);
  });
  after(async () => {
    await fleet.stopAll();
    await scratch?.cleanup();
  });

  const { test, start, stop } = fleet;

  /**
   * The same images in either direction: OCI single and multi-layer, Docker schema 2, an OCI index
   * and a Docker manifest list, a bigger layer.
   */
  async function pushImages(registry: RunningRegistry, set: ImageSet): Promise<void> {
    await set.push(registry, "single", "interop/single:1", singleLayer);
    await set.push(registry, "single", "interop/single:latest", singleLayer);
    await set.push(registry, "multi", "interop/team/multi:1.0", multiLayer);
    // A tag moved to another manifest: its index then holds both.
    await set.push(registry, "single", "interop/team/multi:moved", singleLayer);
    set.forget("interop/team/multi:moved");
    await set.push(registry, "multi", "interop/team/multi:moved", multiLayer);
    await set.push(registry, "multi", "interop/docker:v2s2", multiLayer, ["--format", "v2s2"]);
    await set.pushIndex(registry, "multiarch", "interop/multiarch:1", children);
    await set.pushIndex(registry, "multiarch", "interop/multiarch:docker-list", children, ["--format", "v2s2"]);
    await set.push(registry, "big", "interop/big:1", specs["big"] ?? { layers: [] });
    // Deletions: a manifest with a tag left on another manifest of the repository, and the only
    // manifest of a repository.
    await set.push(registry, "multi", "interop/deleted:keep", multiLayer);
    const doomed = await set.push(registry, "single", "interop/deleted:1", singleLayer);
    await set.push(registry, "single", "interop/emptied:1", singleLayer);
    await skopeo.delete(`docker://${registry.host}/interop/deleted:1`);
    await skopeo.delete(`docker://${registry.host}/interop/emptied:1`);
    set.forget("interop/deleted:1");
    set.forget("interop/emptied:1");
    assert.equal((await headManifest(registry, "interop/deleted", doomed.digest)).status, 404);
  }

  /** What the writer says about the store, to compare with what the reader says. */
  async function listing(registry: RunningRegistry): Promise<{ repos: string[]; tags: Map<string, string[]> }> {
    const repos = (await catalog(registry)).sort();
    const byRepo = new Map<string, string[]>();
    for (const repo of repos) byRepo.set(repo, (await tags(registry, repo)).sort());
    return { repos, tags: byRepo };
  }

  async function assertSameListing(reader: RunningRegistry, expected: { repos: string[]; tags: Map<string, string[]> }, set: ImageSet): Promise<void> {
    const actual = await listing(reader);
    assert.deepEqual(actual.repos, expected.repos, `${reader.kind}: catalog of the shared store`);
    assert.deepEqual(actual.tags, expected.tags, `${reader.kind}: tag lists of the shared store`);
    for (const [repo, pushedTags] of set.tagsByRepo()) assert.deepEqual(actual.tags.get(repo), pushedTags, `${reader.kind}: tags of ${repo}`);
    assert.ok(actual.repos.includes("interop/deleted") && !actual.tags.get("interop/deleted")?.includes("1"));
  }

  test("lading serves a store written by docker-registry", async () => {
    const store = await scratch.dir("store-docker-registry");
    const set = new ImageSet(skopeo, scratch, src);
    const writer = await start("docker-registry", store);
    await pushImages(writer, set);
    const digests = blobs.map((b) => sha256(b));
    for (const [i, blob] of blobs.entries()) await pushBlobChunked(writer, "interop/single", blob, digests[i] ?? "");
    await set.verify(writer); // the reference's own view first, so a failure below is lading's
    const written = await listing(writer);
    await stop(writer);
    const fsck = await runLading(["fsck", "--storage", store]);
    assert.equal(fsck.code, 0, `lading fsck of the store docker-registry wrote: ${fsck.stdout}${fsck.stderr}`);

    const reader = await start("lading", store);
    await set.verify(reader);
    await assertSameListing(reader, written, set);
    for (const [i, blob] of blobs.entries()) {
      const got = await getBlob(reader, "interop/single", digests[i] ?? "");
      assert.equal(got.status, 200, `lading GET of blob ${i} (${blob.length} bytes)`);
      assert.ok(got.body.equals(blob), `blob ${i}: lading served ${got.body.length} bytes, docker-registry stored ${blob.length}`);
      assert.equal(got.headers.get("docker-content-digest"), digests[i]);
    }
    const big = blobs[2] ?? Buffer.alloc(0);
    const range = await getBlob(reader, "interop/single", digests[2] ?? "", "bytes=1000-1999");
    assert.equal(range.status, 206);
    assert.ok(range.body.equals(big.subarray(1000, 2000)), "a range of a blob docker-registry wrote");
    const deleted = await headManifest(reader, "interop/deleted", "1");
    assert.equal(deleted.status, 404, "a tag whose manifest docker-registry deleted must not resolve");
    // lading can go on writing into the store it inherited.
    await set.push(reader, "multi", "interop/single:2", multiLayer);
    await set.verify(reader);
  });

  test("docker-registry serves a store written by lading, with deleted manifests and tags and raw blobs", async () => {
    const store = await scratch.dir("store-lading");
    const set = new ImageSet(skopeo, scratch, src);
    const writer = await start("lading", store);
    await pushImages(writer, set);
    // A tag deleted on its own (lading allows it; docker-registry 2.8 does not): the manifest stays.
    const untagged = await set.push(writer, "multi", "interop/team/multi:untag-me", multiLayer);
    assert.equal(await deleteManifest(writer, "interop/team/multi", "untag-me"), 202);
    set.forget("interop/team/multi:untag-me");
    // Blobs uploaded by hand, in chunks, to a repository that has manifests (docker-registry's
    // catalog lists only repositories with manifests).
    const digests = blobs.map((b) => sha256(b));
    for (const [i, blob] of blobs.entries()) await pushBlobChunked(writer, "interop/single", blob, digests[i] ?? "");
    await set.verify(writer);
    const written = await listing(writer);
    await stop(writer);
    const fsck = await runLading(["fsck", "--storage", store]);
    assert.equal(fsck.code, 0, `lading fsck of the store lading wrote: ${fsck.stdout}${fsck.stderr}`);

    const reader = await start("docker-registry", store);
    await set.verify(reader);
    await assertSameListing(reader, written, set);
    assert.equal((await headManifest(reader, "interop/team/multi", "untag-me")).status, 404, "the deleted tag must be gone");
    assert.equal((await headManifest(reader, "interop/team/multi", untagged.digest)).status, 200, "its manifest must stay");
    assert.equal((await headManifest(reader, "interop/deleted", "1")).status, 404);
    for (const [i, blob] of blobs.entries()) {
      const got = await getBlob(reader, "interop/single", digests[i] ?? "");
      assert.equal(got.status, 200, `docker-registry GET of blob ${i} (${blob.length} bytes)`);
      assert.ok(got.body.equals(blob), `blob ${i}: docker-registry served ${got.body.length} bytes, lading stored ${blob.length}`);
      assert.equal(got.headers.get("docker-content-digest"), digests[i]);
    }
    // docker-registry can go on writing into the store lading made.
    await set.push(reader, "single", "interop/team/multi:from-reference", singleLayer);
    await set.verify(reader);
    await stop(reader);

    // Its garbage collector walks every link and manifest lading wrote: it must find every blob
    // the images need (they still pull afterwards) and sweep only the unreferenced raw blobs.
    const gc = await dockerRegistryGarbageCollect(store, await scratch.dir("config"));
    assert.match(gc.stdout + gc.stderr, /blobs marked/, "garbage-collect should report its mark phase");
    const afterGc = await start("docker-registry", store);
    await set.verify(afterGc);
    for (const digest of digests) assert.equal((await getBlob(afterGc, "interop/single", digest)).status, 404, `${digest} is referenced by nothing`);
  });

  test("lading logged no server fault (5xx answer or error entry)", async () => {
    assert.equal(fleet.everyLading.length, 2);
    for (const r of fleet.everyLading) assert.deepEqual(r.process.faults, []);
  });
});
