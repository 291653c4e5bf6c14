import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { digestOf, expectError, pathOf, randomBlob, request, startTestServer, startUpload, withDigest, type TestServer } from "./support.js";

/** Digests at upload time: mismatches, malformed values, sha512, the empty blob. */
describe("upload digests", () => {
  let server: TestServer;
  const repo = "digests/test";
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const expectAbsent = async (...digests: string[]) => {
    for (const d of digests) expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${d}`), 404, "BLOB_UNKNOWN", `blob ${d} must not be visible`);
  };

  describe("digest mismatch: DIGEST_INVALID and no blob", () => {
    const data = randomBlob(3067);
    const corrupt = Buffer.concat([data, Buffer.from("oh no")]);
    const claimed = digestOf(data);
    const actual = digestOf(corrupt);

    it("single POST ?digest=", async () => {
      const reply = await request(server, "POST", `/v2/${repo}/blobs/uploads/?digest=${claimed}`, { body: corrupt });
      expectError(reply, 400, "DIGEST_INVALID");
      await expectAbsent(claimed, actual);
    });

    it("POST then PUT with the body", async () => {
      const location = await startUpload(server, repo);
      expectError(await request(server, "PUT", withDigest(location, claimed), { body: corrupt }), 400, "DIGEST_INVALID");
      await expectAbsent(claimed, actual);
    });

    it("chunked PATCH then PUT", async () => {
      const location = await startUpload(server, repo);
      const patched = await request(server, "PATCH", location, { body: corrupt, headers: { "Content-Range": `0-${corrupt.length - 1}` } });
      assert.equal(patched.status, 202);
      expectError(await request(server, "PUT", withDigest(patched.header("location")!, claimed)), 400, "DIGEST_INVALID");
      await expectAbsent(claimed, actual);
    });

    it("streamed PATCH then PUT", async () => {
      const location = await startUpload(server, repo);
      const patched = await request(server, "PATCH", location, { body: corrupt, chunked: true });
      assert.equal(patched.status, 202);
      expectError(await request(server, "PUT", withDigest(patched.header("location")!, claimed)), 400, "DIGEST_INVALID");
      await expectAbsent(claimed, actual);
    });

    it("a sha512 digest that does not match", async () => {
      const location = await startUpload(server, repo, "?digest-algorithm=sha512");
      expectError(await request(server, "PUT", withDigest(location, digestOf(data, "sha512")), { body: corrupt }), 400, "DIGEST_INVALID");
      await expectAbsent(digestOf(data, "sha512"), digestOf(corrupt, "sha512"));
    });
  });

  describe("malformed digests: DIGEST_INVALID", () => {
    const bad = ["sha256:xyz", "sha256:" + "0".repeat(63), "sha256:" + "A".repeat(64), "nothing", "sha256", ":", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha384:" + "0".repeat(96), "sha256:" + "0".repeat(64) + "0"];

    it("on PUT ?digest=", async () => {
      for (const value of bad) {
        const location = await startUpload(server, repo);
        expectError(await request(server, "PUT", withDigest(location, value), { body: "data" }), 400, "DIGEST_INVALID", value);
      }
    });

    it("on single POST ?digest=", async () => {
      for (const value of bad) {
        expectError(await request(server, "POST", `/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(value)}`, { body: "data" }), 400, "DIGEST_INVALID", value);
      }
    });

    it("on PUT without any digest", async () => {
      const location = await startUpload(server, repo);
      expectError(await request(server, "PUT", location, { body: "data" }), 400, "DIGEST_INVALID");
      expectError(await request(server, "PUT", withDigest(location, ""), { body: "data" }), 400, "DIGEST_INVALID");
    });

    it("on an unsupported digest-algorithm", async () => {
      const reply = await request(server, "POST", `/v2/${repo}/blobs/uploads/?digest-algorithm=md5`);
      expectError(reply, 400, ["DIGEST_INVALID", "UNSUPPORTED"]);
    });
  });

  describe("sha512", () => {
    const data = randomBlob(3000);
    const digest = digestOf(data, "sha512");

    const check = async (location: string | undefined) => {
      assert.ok(location);
      assert.equal(pathOf(location), `/v2/${repo}/blobs/${digest}`);
      const reply = await request(server, "GET", location);
      assert.equal(reply.status, 200);
      assert.equal(reply.header("docker-content-digest"), digest);
      assert.ok(reply.body.equals(data));
    };

    it("single POST ?digest=sha512:...", async () => {
      const reply = await request(server, "POST", `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: data });
      assert.equal(reply.status, 201, reply.text());
      assert.equal(reply.header("docker-content-digest"), digest);
      await check(reply.header("location"));
    });

    it("POST ?digest-algorithm=sha512, chunks, PUT", async () => {
      let location = await startUpload(server, repo, "?digest-algorithm=sha512");
      for (const [start, end] of [[0, 1499], [1500, 2999]] as const) {
        const reply = await request(server, "PATCH", location, { body: data.subarray(start, end + 1), headers: { "Content-Range": `${start}-${end}` } });
        assert.equal(reply.status, 202);
        location = reply.header("location")!;
      }
      const done = await request(server, "PUT", withDigest(location, digest));
      assert.equal(done.status, 201, done.text());
      assert.equal(done.header("docker-content-digest"), digest);
      await check(done.header("location"));
    });

    it("without the digest-algorithm hint (the algorithm comes from the final digest)", async () => {
      const location = await startUpload(server, repo);
      const patched = await request(server, "PATCH", location, { body: data, chunked: true });
      assert.equal(patched.status, 202);
      const done = await request(server, "PUT", withDigest(patched.header("location")!, digest));
      assert.equal(done.status, 201, done.text());
      await check(done.header("location"));
    });

    it("a session hinted sha512 may still complete with a sha256 digest", async () => {
      const other = randomBlob(999);
      const location = await startUpload(server, repo, "?digest-algorithm=sha512");
      const patched = await request(server, "PATCH", location, { body: other, chunked: true });
      const done = await request(server, "PUT", withDigest(patched.header("location")!, digestOf(other)));
      assert.equal(done.status, 201, done.text());
      assert.ok((await request(server, "GET", `/v2/${repo}/blobs/${digestOf(other)}`)).body.equals(other));
    });

    it("the same bytes are distinct blobs under sha256 and sha512", async () => {
      const other = randomBlob(77);
      const location = await startUpload(server, repo, "?digest-algorithm=sha512");
      assert.equal((await request(server, "PUT", withDigest(location, digestOf(other, "sha512")), { body: other })).status, 201);
      await expectAbsent(digestOf(other));
    });
  });

  describe("the empty blob", () => {
    const empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    it("single POST with Content-Length: 0", async () => {
      const reply = await request(server, "POST", `/v2/empty/one/blobs/uploads/?digest=${empty}`, { body: Buffer.alloc(0) });
      assert.equal(reply.status, 201, reply.text());
      const head = await request(server, "HEAD", `/v2/empty/one/blobs/${empty}`);
      assert.equal(head.status, 200);
      assert.equal(head.header("content-length"), "0");
    });

    it("POST then PUT with Content-Length: 0, in sha256 and sha512", async () => {
      for (const d of [empty, digestOf("", "sha512")]) {
        const location = await startUpload(server, "empty/two");
        const done = await request(server, "PUT", withDigest(location, d));
        assert.equal(done.status, 201, done.text());
        const get = await request(server, "GET", `/v2/empty/two/blobs/${d}`);
        assert.equal(get.status, 200);
        assert.equal(get.header("content-length"), "0");
      }
    });

    it("the empty JSON blob {}", async () => {
      const reply = await request(server, "POST", `/v2/empty/one/blobs/uploads/?digest=${digestOf("{}")}`, { body: "{}" });
      assert.equal(reply.status, 201);
      assert.equal(digestOf("{}"), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
      assert.equal((await request(server, "GET", `/v2/empty/one/blobs/${digestOf("{}")}`)).text(), "{}");
    });
  });
});
