import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { digestOf, parseDigest, type Digest } from "../../src/oci/digest.js";
import { mediaTypes } from "../../src/oci/mediatypes.js";
import { Registry } from "../../src/registry/index.js";
import type { StorageDriver } from "../../src/storage/driver.js";
import { memoryDriver } from "../../src/storage/index.js";

/*
 * Replicas on one shared store, as on a bucket: two Registry instances over one driver that does not
 * claim exclusive ownership. What one writes, the other serves on its next request.
 */

const options = { deleteEnabled: true, readOnly: false, maxSize: 4 << 20, requireIndexChildren: true, requireBlobs: true };

/** The same store, without the exclusive capability (what an object store offers). */
function shared(driver: StorageDriver): StorageDriver {
  const { exclusive, ...capabilities } = driver.capabilities;
  void exclusive;
  return Object.assign(Object.create(driver) as StorageDriver, { capabilities });
}

/** Two replicas on one store, and the paths either read as streams (a blob read back). */
function replicas(): [Registry, Registry, string[]] {
  const store = shared(memoryDriver());
  const streamed: string[] = [];
  const reader = store.reader.bind(store);
  store.reader = (path, range) => {
    streamed.push(path);
    return reader(path, range);
  };
  return [new Registry(store, options), new Registry(store, options), streamed];
}

const body = (bytes: Buffer) => Readable.from([bytes]);

async function pushImage(registry: Registry, name: string, tag: string): Promise<Digest> {
  const config = Buffer.from(JSON.stringify({ nonce: randomBytes(8).toString("hex") }));
  const digest = parseDigest(digestOf(config))!;
  await registry.uploads.complete(name, await registry.uploads.start(name), digest, body(config), {});
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: { mediaType: mediaTypes.ociConfig, digest: digest.value, size: config.length }, layers: [] }));
  return (await registry.manifests.put(name, { tag }, manifest, mediaTypes.ociManifest, [])).digest;
}

describe("replicas on a shared store", () => {
  it("serves a tag moved through one replica from the other on its next request", async () => {
    const [a, b] = replicas();
    const first = await pushImage(a, "app", "latest");
    assert.equal((await b.manifests.get("app", { tag: "latest" })).digest.value, first.value);
    assert.deepEqual(await b.tags.list("app"), ["latest"]);
    const second = await pushImage(a, "app", "latest");
    assert.notEqual(second.value, first.value);
    assert.equal((await b.manifests.get("app", { tag: "latest" })).digest.value, second.value);
    await pushImage(a, "app", "v2");
    assert.deepEqual(await b.tags.list("app"), ["latest", "v2"]);
    assert.ok(await b.tags.untag("app", "v2"));
    assert.equal(await a.tags.resolve("app", "v2"), undefined);
    assert.deepEqual(await a.tags.list("app"), ["latest"]);
  });

  it("pages a tag list through from storage, each page after the last", async () => {
    const [a, b] = replicas();
    const digest = await pushImage(a, "paged", "t0");
    for (const tag of ["t1", "t2", "t3", "t4"]) await a.tags.tag("paged", tag, digest);
    const pages: string[][] = [];
    let last: string | undefined;
    for (;;) {
      const page = await b.tags.page("paged", 2, last);
      pages.push((JSON.parse(page.body.toString()) as { tags: string[] }).tags);
      if (page.next === undefined) break;
      last = page.next;
    }
    assert.deepEqual(pages, [["t0", "t1"], ["t2", "t3"], ["t4"]]);
  });

  it("continues an upload on another replica from its saved hash state: POST on one, PATCH on the other, PUT on the first", async () => {
    const [a, b, streamed] = replicas();
    const data = randomBytes(300_000);
    const digest = parseDigest(digestOf(data))!;
    const id = await a.uploads.start("app");
    assert.equal(await b.uploads.offset("app", id), 0);
    await b.uploads.append("app", id, body(data.subarray(0, 100_000)), { start: 0, end: 99_999 });
    assert.equal(await a.uploads.offset("app", id), 100_000);
    await a.uploads.append("app", id, body(data.subarray(100_000, 200_000)), { start: 100_000, end: 199_999 });
    await a.uploads.complete("app", id, digest, body(data.subarray(200_000)), {});
    assert.equal(await b.blobs.sizeIn("app", digest), data.length);
    assert.deepEqual(streamed, [], "no replica read the upload back to hash it");
  });

  it("stores again what a replica pushes while it still believes in what the other deleted", async () => {
    const [a, b] = replicas();
    const digest = await pushImage(a, "app", "latest");
    const manifest = await b.manifests.get("app", { digest });
    const config = parseDigest((JSON.parse(manifest.body.toString("utf8")) as { config: { digest: string } }).config.digest)!;
    const configBytes = (await b.blobs.read(config))!;
    assert.ok(await b.blobs.isLinked("app", config));
    await a.manifests.delete("app", digest);
    await a.blobs.unlink("app", config);
    // Within the bound, b may still answer reads from its beliefs, but its writes must land.
    await b.uploads.complete("app", await b.uploads.start("app"), config, body(configBytes), {});
    await b.manifests.put("app", { tag: "latest" }, manifest.body, mediaTypes.ociManifest, []);
    const fresh = new Registry(a.driver, options);
    assert.ok(await fresh.blobs.isLinked("app", config), "the config link was not written again");
    assert.equal((await fresh.manifests.get("app", { tag: "latest" })).digest.value, digest.value, "the revision link was not written again");
  });
});
