import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { descriptor, digestOf, expectError, mt, pushBlob, pushImage, randomBlob, request, startTestServer, type Descriptor, type TestServer } from "./support.js";

/** What a manifest PUT refuses, and that a refused manifest leaves nothing behind. */
describe("manifest validation", () => {
  let server: TestServer;
  const repo = "validation/test";
  let config: Descriptor;
  let layer: Descriptor;
  before(async () => {
    server = await startTestServer();
    const configBytes = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layerBytes = randomBlob(400);
    await pushBlob(server, repo, configBytes);
    await pushBlob(server, repo, layerBytes);
    config = descriptor(mt.ociConfig, configBytes);
    layer = descriptor(mt.ociLayer, layerBytes);
  });
  after(() => server.close());

  const put = (tag: string, body: Buffer | string | object, contentType: string = mt.ociManifest, name = repo) =>
    request(server, "PUT", `/v2/${name}/manifests/${tag}`, {
      body: typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body),
      headers: { "Content-Type": contentType },
    });

  const expectNoTag = async (tag: string) => {
    expectError(await request(server, "GET", `/v2/${repo}/manifests/${tag}`), 404, "MANIFEST_UNKNOWN", `tag ${tag} must not exist`);
  };

  it("MANIFEST_BLOB_UNKNOWN for a missing config or layer", async () => {
    const missing = descriptor(mt.ociLayer, "never pushed");
    expectError(await put("missing-layer", { schemaVersion: 2, mediaType: mt.ociManifest, config, layers: [layer, missing] }), 400, "MANIFEST_BLOB_UNKNOWN");
    expectError(await put("missing-config", { schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, "{}x"), layers: [layer] }), 400, "MANIFEST_BLOB_UNKNOWN");
    await expectNoTag("missing-layer");
    await expectNoTag("missing-config");
  });

  it("MANIFEST_BLOB_UNKNOWN for a blob that is only in another repository", async () => {
    const elsewhere = randomBlob(50);
    await pushBlob(server, "validation/other", elsewhere);
    const reply = await put("other-repo-blob", { schemaVersion: 2, mediaType: mt.ociManifest, config, layers: [descriptor(mt.ociLayer, elsewhere)] });
    expectError(reply, 400, "MANIFEST_BLOB_UNKNOWN");
  });

  it("refuses an index naming a child manifest the repository does not hold", async () => {
    const child = await pushImage(server, repo, "child");
    const index = {
      schemaVersion: 2,
      mediaType: mt.ociIndex,
      manifests: [descriptor(mt.ociManifest, child.body), { mediaType: mt.ociManifest, digest: digestOf("absent child"), size: 1024 }],
    };
    const reply = await put("sparse", index, mt.ociIndex);
    expectError(reply, reply.status === 404 ? 404 : 400, ["MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN"]);
    await expectNoTag("sparse");
  });

  it("answers 413 with an error envelope for a manifest over 4 MiB, with or without Content-Length", async () => {
    const big = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config, layers: [], annotations: { pad: "x".repeat(4 << 20) } }));
    expectError(await put("too-big", big), 413, ["MANIFEST_INVALID", "SIZE_INVALID", "UNSUPPORTED"]);
    const chunked = await request(server, "PUT", `/v2/${repo}/manifests/too-big`, { body: big, chunked: true, headers: { "Content-Type": mt.ociManifest } });
    expectError(chunked, 413, ["MANIFEST_INVALID", "SIZE_INVALID", "UNSUPPORTED"]);
    await expectNoTag("too-big");
  });

  it("refuses Docker schema 1 with a MANIFEST_INVALID message that names schema 1", async () => {
    const v1 = { schemaVersion: 1, name: repo, tag: "old", architecture: "amd64", fsLayers: [{ blobSum: layer.digest }], history: [{ v1Compatibility: "{}" }], signatures: [] };
    for (const contentType of ["application/vnd.docker.distribution.manifest.v1+prettyjws", "application/vnd.docker.distribution.manifest.v1+json", "application/json"]) {
      const error = expectError(await put("schema1", v1, contentType), 400, "MANIFEST_INVALID", contentType);
      assert.match(error?.message ?? "", /schema ?1|schemaVersion 1|schema version 1/i, `message: ${error?.message}`);
    }
    await expectNoTag("schema1");
  });

  it("MANIFEST_INVALID when the mediaType field and the Content-Type disagree", async () => {
    const body = { schemaVersion: 2, mediaType: mt.ociManifest, config, layers: [layer] };
    expectError(await put("mismatch", body, mt.dockerManifest), 400, "MANIFEST_INVALID");
    expectError(await put("mismatch", body, mt.ociIndex), 400, "MANIFEST_INVALID");
    const index = { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [] };
    expectError(await put("mismatch", index, mt.ociManifest), 400, "MANIFEST_INVALID");
    await expectNoTag("mismatch");
  });

  it("MANIFEST_INVALID for bodies that are not valid manifests", async () => {
    const base = { schemaVersion: 2, mediaType: mt.ociManifest, config, layers: [layer] };
    const bad: [string, string | object][] = [
      ["invalid JSON", "{\"schemaVersion\": 2, "],
      ["empty body", ""],
      ["not an object", "[1,2,3]"],
      ["JSON null", "null"],
      ["a string", '"manifest"'],
      ["binary garbage", "\u0000\u0001\u00ff\u00fe{{{"],
      ["schemaVersion 3", { ...base, schemaVersion: 3 }],
      ["schemaVersion missing", { mediaType: mt.ociManifest, config, layers: [layer] }],
      ["schemaVersion a string", { ...base, schemaVersion: "2" }],
      ["config missing", { schemaVersion: 2, mediaType: mt.ociManifest, layers: [layer] }],
      ["config not an object", { ...base, config: "sha256:abc" }],
      ["layers not a list", { ...base, layers: { 0: layer } }],
      ["descriptor without digest", { ...base, layers: [{ mediaType: mt.ociLayer, size: 1 }] }],
      ["descriptor digest malformed", { ...base, layers: [{ ...layer, digest: "not a digest" }] }],
      ["descriptor size negative", { ...base, layers: [{ ...layer, size: -1 }] }],
      ["descriptor size a string", { ...base, layers: [{ ...layer, size: "400" }] }],
      ["descriptor size fractional", { ...base, layers: [{ ...layer, size: 1.5 }] }],
      ["descriptor size huge", { ...base, layers: [{ ...layer, size: 1e300 }] }],
      ["data not base64", { ...base, config: { ...config, data: "!!!" } }],
      ["data not matching size", { ...base, config: { ...config, data: "e30=" } }],
      ["annotations not strings", { ...base, annotations: { a: 1 } }],
      ["unknown manifest mediaType", { ...base, mediaType: "application/vnd.example.not-a-manifest" }],
      ["index with config", { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [], config }],
      ["index manifests not a list", { schemaVersion: 2, mediaType: mt.ociIndex, manifests: "none" }],
      ["subject not a descriptor", { ...base, subject: "sha256:abc" }],
    ];
    for (const [what, body] of bad) {
      const contentType = typeof body === "object" && (body as { mediaType?: string }).mediaType === mt.ociIndex ? mt.ociIndex : mt.ociManifest;
      expectError(await put("invalid", body, contentType), 400, ["MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"], what);
    }
    await expectNoTag("invalid");
  });

  it("refuses invalid tags in the path and in ?tag=", async () => {
    const body = { schemaVersion: 2, mediaType: mt.ociManifest, config, layers: [layer] };
    const digest = digestOf(JSON.stringify(body));
    for (const tag of ["-leading-dash", ".dot", "a".repeat(129), "sp%20ace", "ta:g"]) {
      const reply = await put(tag, body);
      assert.ok(reply.status === 400 || reply.status === 404, `${tag}: ${reply.status}`);
    }
    const reply = await request(server, "PUT", `/v2/${repo}/manifests/${digest}?tag=good&tag=${encodeURIComponent("bad tag")}`, {
      body: JSON.stringify(body),
      headers: { "Content-Type": mt.ociManifest },
    });
    assert.equal(reply.status, 400, reply.text());
    await expectNoTag("good");
  });
});
