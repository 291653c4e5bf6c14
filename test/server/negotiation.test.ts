import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { mt, pushImage, pushManifest, request, startTestServer, type TestServer } from "../api/support.js";

describe("manifest Accept negotiation", () => {
  let server: TestServer;
  let index: { digest: string; body: Buffer };
  let amd64: { digest: string; body: Buffer };
  before(async () => {
    server = await startTestServer();
    const arm = await pushImage(server, "multi", "arm");
    amd64 = await pushImage(server, "multi", "amd");
    const manifests = [
      { mediaType: mt.ociManifest, digest: arm.digest, size: arm.body.length, platform: { os: "linux", architecture: "arm64" } },
      { mediaType: mt.ociManifest, digest: amd64.digest, size: amd64.body.length, platform: { os: "linux", architecture: "amd64" } },
    ];
    index = await pushManifest(server, "multi", "latest", { schemaVersion: 2, mediaType: mt.ociIndex, manifests }, mt.ociIndex);
  });
  after(() => server.close());

  const get = (accept?: string) => request(server, "GET", "/v2/multi/manifests/latest", accept === undefined ? {} : { headers: { Accept: accept } });

  it("serves the index as pushed to clients that accept it, or anything", async () => {
    for (const accept of [undefined, `${mt.ociIndex}, ${mt.ociManifest}`, "*/*", `${mt.dockerManifest}, */*;q=0.1`]) {
      const reply = await get(accept);
      assert.equal(reply.status, 200);
      assert.equal(reply.header("content-type"), mt.ociIndex, String(accept));
      assert.deepEqual(reply.body, index.body);
    }
  });

  it("gives a client that accepts only image manifests the linux/amd64 image", async () => {
    const reply = await get(mt.ociManifest);
    assert.equal(reply.status, 200);
    assert.equal(reply.header("content-type"), mt.ociManifest);
    assert.equal(reply.header("docker-content-digest"), amd64.digest);
  });

  it("never refuses a pull over Accept: an unrelated Accept gets the stored bytes", async () => {
    const reply = await get(mt.dockerConfig);
    assert.equal(reply.status, 200);
    assert.equal(reply.header("docker-content-digest"), index.digest);
  });
});
