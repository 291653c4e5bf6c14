/**
 * The pull-through cache on replicas sharing a bucket of the run's Ceph gateway: concurrent misses
 * of one manifest, and of one blob, through two replicas reach the upstream once, and each replica
 * then serves it.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { descriptor, mt, pushBlobInTwo, pushManifest, randomBlob, request, s3StorageOverrides, startTestServer, type TestServer } from "../api/support.js";
import { useCeph } from "../helpers/ceph.js";
import { CountingProxy } from "../helpers/counting-proxy.js";
import { requireTools } from "../helpers/exec.js";
import { startDockerRegistry } from "../helpers/registries.js";
import { uniqueBucketName } from "../helpers/s3.js";

requireTools("docker-registry");

let removeBucket: (() => Promise<void>) | undefined;
after(() => removeBucket?.());
const s3 = await useCeph();
const bucket = uniqueBucketName("lading-mirror");
await s3.createBucket(bucket);
removeBucket = () => s3.deleteBucket(bucket);


describe("pull-through cache on replicas", { timeout: 300_000 }, () => {
  it("fetches a manifest and a blob that two replicas miss at once from the upstream once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lading-mirror-replicas-"));
    const upstream = await startDockerRegistry(join(dir, "upstream"), dir);
    const upstreamServer = { url: upstream.url, host: "127.0.0.1", port: Number(new URL(upstream.url).port) } as TestServer;
    const proxy = await CountingProxy.start(upstream.url);
    const settings = { ...s3StorageOverrides(s3, bucket, "/mirror"), "storage.redirect.disable": true, "lading.mirror.upstreams": [{ prefix: "hub", url: proxy.url }] };
    const replicas = [await startTestServer(settings), await startTestServer(settings)];
    try {
      const config = Buffer.from("{}");
      const layer = randomBlob(3 << 20);
      await pushBlobInTwo(upstreamServer, "library/shared", config);
      const layerDigest = await pushBlobInTwo(upstreamServer, "library/shared", layer);
      const manifest = await pushManifest(upstreamServer, "library/shared", "1", { schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config), layers: [descriptor(mt.ociLayer, layer)] }, mt.ociManifest);
      // By tag on both, at once: each asks the tag (a HEAD), one fetches the manifest.
      const tagged = await Promise.all([...replicas, ...replicas].map((r) => request(r, "GET", "/v2/hub/library/shared/manifests/1", { headers: { Accept: mt.ociManifest } })));
      for (const reply of tagged) assert.ok(reply.status === 200 && reply.header("docker-content-digest") === manifest.digest, `${reply.status}`);
      assert.equal(proxy.count(/^GET \/v2\/library\/shared\/manifests\//), 1, proxy.seen.join("\n"));
      for (const r of replicas) assert.deepEqual((await request(r, "GET", "/v2/hub/library/shared/tags/list")).json(), { name: "hub/library/shared", tags: ["1"] });
      const path = `/v2/hub/library/shared/blobs/${layerDigest}`;
      const replies = await Promise.all([...replicas, ...replicas].map((r) => request(r, "GET", path)));
      for (const reply of replies) assert.ok(reply.status === 200 && reply.body.equals(layer), `${reply.status}`);
      assert.equal(proxy.count(new RegExp(`^GET /v2/library/shared/blobs/${layerDigest}$`)), 1, proxy.seen.join("\n"));
    } finally {
      for (const r of replicas) await r.close();
      await proxy.close();
      await upstream.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
