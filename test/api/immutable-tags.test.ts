import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { expectError, mt, pushImage, request, startTestServer, type TestServer } from "./support.js";

describe("immutable tags (lading.tags.immutable)", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ "lading.tags.immutable": [{ repositories: ["prod/**"], tags: ["v*"] }] });
  });
  after(() => server.close());

  const put = (repo: string, reference: string, body: Buffer) => request(server, "PUT", `/v2/${repo}/manifests/${reference}`, { body, headers: { "Content-Type": mt.ociManifest } });

  it("refuses to move an existing immutable tag with DENIED naming the rule, and allows pushing what it names again", async () => {
    const first = await pushImage(server, "prod/app", "v1");
    const second = await pushImage(server, "prod/app", "candidate");
    const moved = await put("prod/app", "v1", second.body);
    const error = expectError(moved, 403, "DENIED");
    assert.match(error?.message ?? "", /tag v1 of prod\/app is immutable \(lading\.tags\.immutable\[0\]: repositories prod\/\*\*, tags v\*\)/);
    assert.equal((await put("prod/app", "v1", first.body)).status, 201, "the same manifest again is no move");
    const served = await request(server, "GET", "/v2/prod/app/manifests/v1", { headers: { Accept: mt.ociManifest } });
    assert.equal(served.header("docker-content-digest"), first.digest);
    // Tags the rule does not name move freely, here and in other repositories.
    assert.equal((await put("prod/app", "candidate", first.body)).status, 201);
    await pushImage(server, "dev/app", "v1");
    const other = await pushImage(server, "dev/app", "v1-next");
    assert.equal((await put("dev/app", "v1", other.body)).status, 201);
  });

  it("refuses to delete an immutable tag or a manifest one names, and removes nothing then", async () => {
    const image = await pushImage(server, "prod/lib", "v2");
    assert.equal((await put("prod/lib", "latest", image.body)).status, 201);
    expectError(await request(server, "DELETE", "/v2/prod/lib/manifests/v2"), 403, "DENIED");
    expectError(await request(server, "DELETE", `/v2/prod/lib/manifests/${image.digest}`), 403, "DENIED");
    for (const tag of ["v2", "latest"]) assert.equal((await request(server, "HEAD", `/v2/prod/lib/manifests/${tag}`, { headers: { Accept: mt.ociManifest } })).status, 200, `${tag} stays`);
    assert.equal((await request(server, "DELETE", "/v2/prod/lib/manifests/latest")).status, 202, "a mutable tag goes");
  });

  it("refuses a config whose rule names no tags", async () => {
    await assert.rejects(startTestServer({ "lading.tags.immutable": [{ repositories: ["**"] }] }), /lading\.tags\.immutable\.0\.tags/);
  });
});
