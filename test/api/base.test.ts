import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { expectError, request, startTestServer, type TestServer } from "./support.js";

describe("GET /v2/", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it("answers 200 with a JSON body and the API version header", async () => {
    const reply = await request(server, "GET", "/v2/");
    assert.equal(reply.status, 200);
    assert.equal(reply.header("docker-distribution-api-version"), "registry/2.0");
    assert.match(reply.header("content-type") ?? "", /^application\/json/);
    assert.deepEqual(reply.json(), {});
    assert.equal(reply.header("content-length"), String(reply.body.length));
  });

  it("answers /v2 without the trailing slash and HEAD /v2/", async () => {
    assert.equal((await request(server, "GET", "/v2")).status, 200);
    const head = await request(server, "HEAD", "/v2/");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  // request() itself asserts the header on every reply; these are the error paths spelled out.
  it("sends Docker-Distribution-API-Version on error responses too", async () => {
    const replies = await Promise.all([
      request(server, "GET", "/v2/nothing/here"),
      request(server, "GET", "/not-the-api"),
      request(server, "DELETE", "/v2/"),
      request(server, "GET", "/v2/UPPER/tags/list"),
      request(server, "GET", "/v2/repo/tags/list"),
      request(server, "GET", `/v2/repo/blobs/sha256:${"0".repeat(64)}`),
      request(server, "HEAD", `/v2/repo/manifests/missing`),
      request(server, "GET", "/v2/repo/blobs/uploads/no-such-upload"),
    ]);
    for (const reply of replies) {
      assert.ok(reply.status >= 400, `expected an error, got ${reply.status}`);
      assert.equal(reply.header("docker-distribution-api-version"), "registry/2.0");
    }
  });

  it("answers unknown endpoints under /v2/ with 404 and an error envelope", async () => {
    const reply = await request(server, "GET", "/v2/nothing/here");
    expectError(reply, 404, ["UNSUPPORTED", "NAME_UNKNOWN", "NOT_FOUND"]);
  });
});
