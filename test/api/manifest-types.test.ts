import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { descriptor, digestOf, mt, pushBlob, pushImage, pushManifest, randomBlob, request, startTestServer, type TestServer } from "./support.js";

/** Every kind of manifest is stored and served byte for byte, with the media type it was pushed as. */
describe("manifest media types", () => {
  let server: TestServer;
  const repo = "types/test";
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  /** Pushes `body` under `tag` and checks GET/HEAD by tag and digest return the same bytes and type. */
  const roundTrip = async (tag: string, body: Buffer, contentType: string, served = contentType) => {
    const pushed = await pushManifest(server, repo, tag, body, contentType);
    for (const reference of [tag, pushed.digest]) {
      for (const method of ["GET", "HEAD"] as const) {
        const reply = await request(server, method, `/v2/${repo}/manifests/${reference}`);
        assert.equal(reply.status, 200, `${method} ${reference}`);
        assert.equal(reply.header("content-type"), served, `${method} ${reference}`);
        assert.equal(reply.header("content-length"), String(body.length));
        assert.equal(reply.header("docker-content-digest"), digestOf(body));
        if (method === "GET") assert.ok(reply.body.equals(body), `${method} ${reference}: bytes differ`);
      }
    }
    return pushed;
  };

  it("OCI image index over two platform manifests", async () => {
    const amd = await pushImage(server, repo, "amd64");
    const arm = await pushImage(server, repo, "arm64");
    const index = {
      schemaVersion: 2,
      mediaType: mt.ociIndex,
      manifests: [
        descriptor(mt.ociManifest, amd.body, { platform: { architecture: "amd64", os: "linux" } }),
        descriptor(mt.ociManifest, arm.body, { platform: { architecture: "arm64", os: "linux", variant: "v8" } }),
      ],
    };
    const pushed = await roundTrip("index", Buffer.from(JSON.stringify(index)), mt.ociIndex);
    const nested = { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [descriptor(mt.ociIndex, pushed.body)] };
    await roundTrip("index-of-index", Buffer.from(JSON.stringify(nested)), mt.ociIndex);
  });

  it("Accept negotiation: by tag, a client that takes no index gets the linux/amd64 image; by digest, the bytes named", async () => {
    const arm = await pushImage(server, repo, "neg-arm", { docker: true });
    const amd = await pushImage(server, repo, "neg-amd", { docker: true });
    const list = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: mt.dockerList,
      manifests: [descriptor(mt.dockerManifest, arm.body, { platform: { architecture: "arm64", os: "linux" } }), descriptor(mt.dockerManifest, amd.body, { platform: { architecture: "amd64", os: "linux" } })],
    }));
    const pushed = await pushManifest(server, repo, "negotiated", list, mt.dockerList);
    const byTag = await request(server, "GET", `/v2/${repo}/manifests/negotiated`, { headers: { Accept: mt.dockerManifest } });
    assert.equal(byTag.status, 200);
    assert.equal(byTag.header("content-type"), mt.dockerManifest);
    assert.equal(byTag.header("docker-content-digest"), amd.digest);
    assert.ok(byTag.body.equals(amd.body));
    const both = await request(server, "GET", `/v2/${repo}/manifests/negotiated`, { headers: { Accept: [mt.dockerManifest, mt.dockerList] } });
    assert.ok(both.body.equals(list));
    const byDigest = await request(server, "GET", `/v2/${repo}/manifests/${pushed.digest}`, { headers: { Accept: mt.dockerManifest } });
    assert.equal(byDigest.status, 200);
    assert.equal(byDigest.header("docker-content-digest"), pushed.digest, "a GET by digest must serve the manifest that digest names");
    assert.ok(byDigest.body.equals(list));
  });

  it("an empty OCI index", async () => {
    await roundTrip("empty-index", Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociIndex, manifests: [] })), mt.ociIndex);
  });

  it("Docker schema 2 manifest and manifest list", async () => {
    const image = await pushImage(server, repo, "docker-image", { docker: true });
    const reply = await request(server, "GET", `/v2/${repo}/manifests/docker-image`);
    assert.equal(reply.header("content-type"), mt.dockerManifest);
    assert.ok(reply.body.equals(image.body));
    const list = {
      schemaVersion: 2,
      mediaType: mt.dockerList,
      manifests: [descriptor(mt.dockerManifest, image.body, { platform: { architecture: "amd64", os: "linux" } })],
    };
    await roundTrip("docker-list", Buffer.from(JSON.stringify(list)), mt.dockerList);
  });

  it("an artifact: artifactType, empty config descriptor, custom layer type", async () => {
    const emptyConfig = await pushBlob(server, repo, "{}");
    const layer = randomBlob(2048);
    await pushBlob(server, repo, layer);
    const artifact = {
      schemaVersion: 2,
      mediaType: mt.ociManifest,
      artifactType: "application/vnd.example.oci.conformance.v1",
      config: { mediaType: mt.ociEmpty, digest: emptyConfig, size: 2, data: "e30=" },
      layers: [descriptor("application/vnd.example.oci.conformance.v1", layer)],
    };
    await roundTrip("artifact", Buffer.from(JSON.stringify(artifact)), mt.ociManifest);
    const withoutLayers = { ...artifact, layers: [{ mediaType: mt.ociEmpty, digest: emptyConfig, size: 2 }] };
    await roundTrip("artifact-without-layers", Buffer.from(JSON.stringify(withoutLayers)), mt.ociManifest);
  });

  it("an image with no layers", async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    await pushBlob(server, repo, config);
    const body = { schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config), layers: [] };
    await roundTrip("no-layers", Buffer.from(JSON.stringify(body)), mt.ociManifest);
  });

  it("`data` fields on every descriptor", async () => {
    const config = Buffer.from('{"architecture":"arm64","os":"linux"}');
    const layer = randomBlob(100);
    await pushBlob(server, repo, config);
    await pushBlob(server, repo, layer);
    const body = {
      schemaVersion: 2,
      mediaType: mt.ociManifest,
      config: descriptor(mt.ociConfig, config, { data: config.toString("base64") }),
      layers: [descriptor(mt.ociLayer, layer, { data: layer.toString("base64") })],
    };
    const image = await roundTrip("data-field", Buffer.from(JSON.stringify(body)), mt.ociManifest);
    const index = { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [descriptor(mt.ociManifest, image.body, { data: image.body.toString("base64") })] };
    await roundTrip("data-field-index", Buffer.from(JSON.stringify(index)), mt.ociIndex);
  });

  it("custom fields, odd whitespace and key order are kept byte for byte", async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux","org.custom":"kept"}');
    await pushBlob(server, repo, config);
    const cfg = descriptor(mt.ociConfig, config);
    const text =
      '{\n\t"layers" : [ ],\r\n  "org.example.custom": {"nested": [1, 2.50, "\\u00e9\\ud83d\\ude00"], "null": null},\n' +
      `  "config":{"newUnspecifiedField":null,"size":${cfg.size},"digest":"${cfg.digest}","mediaType":"${mt.ociConfig}"},\n` +
      `  "schemaVersion" : 2 , "mediaType":"${mt.ociManifest}", "annotations": {"é": "ünïcode ✓"}   \n}\n\n`;
    const image = await roundTrip("custom-fields", Buffer.from(text, "utf8"), mt.ociManifest);
    const index = `{"org.random":"x","manifests":[${JSON.stringify(descriptor(mt.ociManifest, image.body, { "org.child": true }))}],"mediaType":"${mt.ociIndex}","schemaVersion":2}`;
    await roundTrip("custom-fields-index", Buffer.from(index), mt.ociIndex);
  });

  it("a manifest without a mediaType field is served with the Content-Type it was pushed with", async () => {
    const config = Buffer.from('{"os":"linux","architecture":"amd64","x":1}');
    await pushBlob(server, repo, config);
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, config: descriptor(mt.ociConfig, config), layers: [] }));
    await roundTrip("no-media-type", body, mt.ociManifest);
  });

  it("ignores parameters on the Content-Type header", async () => {
    const image = await pushImage(server, repo, "params-source");
    const reply = await request(server, "PUT", `/v2/${repo}/manifests/params`, { body: image.body, headers: { "Content-Type": `${mt.ociManifest}; charset=utf-8` } });
    assert.equal(reply.status, 201, reply.text());
    assert.equal((await request(server, "GET", `/v2/${repo}/manifests/params`)).header("content-type"), mt.ociManifest);
  });

  it("non-distributable layers need not be pushed", async () => {
    const config = Buffer.from('{"os":"windows","architecture":"amd64"}');
    const layer = randomBlob(256);
    await pushBlob(server, repo, config);
    await pushBlob(server, repo, layer);
    const foreign = digestOf(randomBlob(32));
    const body = {
      schemaVersion: 2,
      mediaType: mt.ociManifest,
      config: descriptor(mt.ociConfig, config),
      layers: [
        { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: foreign, size: 123456, urls: [`https://store.example.com/blobs/${foreign}`] },
        { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar", digest: digestOf(randomBlob(32)), size: 12345, urls: ["https://store.example.com/x"] },
        descriptor(mt.ociLayer, layer),
      ],
    };
    await roundTrip("non-distributable", Buffer.from(JSON.stringify(body)), mt.ociManifest);
    const docker = { ...body, mediaType: mt.dockerManifest, config: descriptor(mt.dockerConfig, config), layers: [{ mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", digest: foreign, size: 1, urls: ["https://x"] }] };
    await roundTrip("foreign-layers", Buffer.from(JSON.stringify(docker)), mt.dockerManifest);
  });

  it("a sha512 index over sha512 images, pushed by digest only", async () => {
    const children: Buffer[] = [];
    for (const arch of ["amd64", "arm64"]) {
      const config = Buffer.from(JSON.stringify({ architecture: arch, os: "linux" }));
      const layer = randomBlob(300);
      await pushBlob(server, repo, config, "sha512");
      await pushBlob(server, repo, layer, "sha512");
      const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config, {}, "sha512"), layers: [descriptor(mt.ociLayer, layer, {}, "sha512")] }));
      const pushed = await pushManifest(server, repo, digestOf(body, "sha512"), body, mt.ociManifest);
      assert.equal(pushed.reply.header("docker-content-digest"), digestOf(body, "sha512"));
      children.push(body);
    }
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociIndex, manifests: children.map((c) => descriptor(mt.ociManifest, c, {}, "sha512")) }));
    const digest = digestOf(index, "sha512");
    const pushed = await pushManifest(server, repo, digest, index, mt.ociIndex);
    assert.equal(pushed.reply.header("docker-content-digest"), digest);
    for (const [body, d] of [...children.map((c) => [c, digestOf(c, "sha512")] as const), [index, digest] as const]) {
      const reply = await request(server, "GET", `/v2/${repo}/manifests/${d}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.header("docker-content-digest"), d);
      assert.ok(reply.body.equals(body));
    }
  });

  it("a manifest of almost 4 MiB (large annotations) is accepted and served whole", async () => {
    const config = Buffer.from('{"large":true}');
    await pushBlob(server, repo, config);
    const annotations: Record<string, string> = {};
    for (let i = 0; i < 390; i++) annotations[`large-annotation-${i}`] = "A".repeat(10_000);
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config), layers: [], annotations }));
    assert.ok(body.length > 3_900_000 && body.length < 4 << 20);
    await roundTrip("large-manifest", body, mt.ociManifest);
  });
});
