import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { descriptor, digestOf, expectError, mt, pushBlob, pushImage, randomBlob, request, startTestServer, startUpload, withDigest, type PushedImage, type TestServer } from "./support.js";

/** Behaviour switched by configuration: deletes disabled, read-only mode, sparse manifests. */
describe("configuration", () => {
  describe("storage.delete.enabled: false", () => {
    let server: TestServer;
    let image: PushedImage;
    const repo = "nodelete/test";
    before(async () => {
      server = await startTestServer({ "storage.delete.enabled": false });
      image = await pushImage(server, repo, "latest");
    });
    after(() => server.close());

    it("refuses blob, manifest and tag deletes with 405 UNSUPPORTED and keeps the content", async () => {
      const layer = image.layers[0]!.digest;
      expectError(await request(server, "DELETE", `/v2/${repo}/blobs/${layer}`), 405, "UNSUPPORTED");
      expectError(await request(server, "DELETE", `/v2/${repo}/manifests/${image.digest}`), 405, "UNSUPPORTED");
      expectError(await request(server, "DELETE", `/v2/${repo}/manifests/latest`), 405, "UNSUPPORTED");
      assert.equal((await request(server, "HEAD", `/v2/${repo}/blobs/${layer}`)).status, 200);
      assert.equal((await request(server, "HEAD", `/v2/${repo}/manifests/latest`)).status, 200);
      assert.equal((await request(server, "HEAD", `/v2/${repo}/manifests/${image.digest}`)).status, 200);
    });

    it("still accepts pushes and upload cancels", async () => {
      await pushImage(server, repo, "second");
      const location = await startUpload(server, repo);
      assert.equal((await request(server, "DELETE", location)).status, 204);
    });
  });

  describe("storage.maintenance.readonly.enabled: true", () => {
    let root: string;
    let server: TestServer;
    let image: PushedImage;
    let uploadLocation: string;
    const repo = "readonly/test";
    before(async () => {
      root = await mkdtemp(join(tmpdir(), "lading-api-ro-"));
      const writable = await startTestServer({}, root);
      image = await pushImage(writable, repo, "latest");
      uploadLocation = await startUpload(writable, repo);
      await writable.close();
      server = await startTestServer({ "storage.maintenance.readonly.enabled": true }, root);
    });
    after(async () => {
      await server.close();
      await rm(root, { recursive: true, force: true });
    });

    it("serves what is stored", async () => {
      assert.equal((await request(server, "GET", "/v2/")).status, 200);
      const manifest = await request(server, "GET", `/v2/${repo}/manifests/latest`);
      assert.equal(manifest.status, 200);
      assert.ok(manifest.body.equals(image.body));
      assert.equal((await request(server, "GET", `/v2/${repo}/blobs/${image.config.digest}`)).status, 200);
      assert.deepEqual((await request(server, "GET", `/v2/${repo}/tags/list`)).json<{ tags: string[] }>().tags, ["latest"]);
      assert.deepEqual((await request(server, "GET", `/v2/_catalog`)).json<{ repositories: string[] }>().repositories, [repo]);
    });

    it("refuses every write with 405 UNSUPPORTED", async () => {
      const data = randomBlob(10);
      const writes: [string, string, Buffer | undefined][] = [
        ["POST", `/v2/${repo}/blobs/uploads/`, undefined],
        ["POST", `/v2/${repo}/blobs/uploads/?digest=${digestOf(data)}`, data],
        ["POST", `/v2/other/blobs/uploads/?mount=${image.config.digest}&from=${repo}`, undefined],
        ["PATCH", uploadLocation, data],
        ["PUT", withDigest(uploadLocation, digestOf(data)), data],
        ["PUT", `/v2/${repo}/manifests/new-tag`, image.body],
        ["DELETE", `/v2/${repo}/manifests/latest`, undefined],
        ["DELETE", `/v2/${repo}/manifests/${image.digest}`, undefined],
        ["DELETE", `/v2/${repo}/blobs/${image.config.digest}`, undefined],
        ["DELETE", uploadLocation, undefined],
      ];
      for (const [method, path, body] of writes) {
        const reply = await request(server, method, path, body ? { body, headers: { "Content-Type": mt.ociManifest } } : {});
        expectError(reply, 405, "UNSUPPORTED", `${method} ${path}`);
      }
      assert.equal((await request(server, "HEAD", `/v2/${repo}/manifests/latest`)).status, 200);
      assert.equal((await request(server, "HEAD", `/v2/other/blobs/${image.config.digest}`)).status, 404);
      assert.equal((await request(server, "HEAD", `/v2/${repo}/manifests/new-tag`)).status, 404);
      assert.equal((await request(server, "GET", uploadLocation)).status, 204, "the upload session must survive");
    });
  });

  describe("lading.manifests.sparse: true", () => {
    let server: TestServer;
    const repo = "sparse/test";
    before(async () => {
      server = await startTestServer({ "lading.manifests.sparse": true });
    });
    after(() => server.close());

    it("accepts an image whose layer was never pushed and serves what exists", async () => {
      const config = Buffer.from('{"sparse":true}');
      await pushBlob(server, repo, config);
      const body = { schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config), layers: [descriptor(mt.ociLayer, "missing layer")] };
      const reply = await request(server, "PUT", `/v2/${repo}/manifests/sparse-image`, { body: JSON.stringify(body), headers: { "Content-Type": mt.ociManifest } });
      assert.equal(reply.status, 201, reply.text());
      assert.equal((await request(server, "GET", `/v2/${repo}/manifests/sparse-image`)).text(), JSON.stringify(body));
      expectError(await request(server, "GET", `/v2/${repo}/blobs/${digestOf("missing layer")}`), 404, "BLOB_UNKNOWN");
    });

    it("accepts an index naming a child that was never pushed", async () => {
      const child = await pushImage(server, repo, "amd64");
      const index = {
        schemaVersion: 2,
        mediaType: mt.ociIndex,
        manifests: [descriptor(mt.ociManifest, child.body), { mediaType: mt.ociManifest, digest: digestOf("never pushed"), size: 1024, platform: { architecture: "arm64", os: "linux" } }],
      };
      const reply = await request(server, "PUT", `/v2/${repo}/manifests/sparse-index`, { body: JSON.stringify(index), headers: { "Content-Type": mt.ociIndex } });
      assert.equal(reply.status, 201, reply.text());
      assert.equal((await request(server, "GET", `/v2/${repo}/manifests/${child.digest}`)).status, 200);
    });
  });

  describe("validation.manifests.indexes.platforms: none", () => {
    let server: TestServer;
    const repo = "platforms/none";
    before(async () => {
      server = await startTestServer({ "validation.manifests.indexes.platforms": "none" });
    });
    after(() => server.close());

    it("accepts an index with absent children but still requires an image's blobs", async () => {
      const index = { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [{ mediaType: mt.ociManifest, digest: digestOf("absent"), size: 10 }] };
      const reply = await request(server, "PUT", `/v2/${repo}/manifests/idx`, { body: JSON.stringify(index), headers: { "Content-Type": mt.ociIndex } });
      assert.equal(reply.status, 201, reply.text());
      const image = { schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, "{}"), layers: [] };
      expectError(await request(server, "PUT", `/v2/${repo}/manifests/img`, { body: JSON.stringify(image), headers: { "Content-Type": mt.ociManifest } }), 400, "MANIFEST_BLOB_UNKNOWN");
    });
  });
});
