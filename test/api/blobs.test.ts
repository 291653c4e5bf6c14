import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { digestOf, expectError, pushBlob, randomBlob, request, startTestServer, type TestServer } from "./support.js";

describe("blobs: GET, HEAD, Range, DELETE", () => {
  let server: TestServer;
  const repo = "blobs/test";
  const data = randomBlob(2048);
  let digest: string;
  before(async () => {
    server = await startTestServer();
    digest = await pushBlob(server, repo, data);
  });
  after(() => server.close());

  const blobHeaders = (reply: Awaited<ReturnType<typeof request>>, d: string, length: number) => {
    assert.equal(reply.header("content-length"), String(length));
    assert.equal(reply.header("content-type"), "application/octet-stream");
    assert.equal(reply.header("docker-content-digest"), d);
    assert.equal(reply.header("etag"), `"${d}"`);
  };

  it("HEAD answers 200 with exact headers and no body", async () => {
    const reply = await request(server, "HEAD", `/v2/${repo}/blobs/${digest}`);
    assert.equal(reply.status, 200);
    blobHeaders(reply, digest, data.length);
    assert.equal(reply.body.length, 0);
  });

  it("GET answers 200 with the exact bytes", async () => {
    const reply = await request(server, "GET", `/v2/${repo}/blobs/${digest}`);
    assert.equal(reply.status, 200);
    blobHeaders(reply, digest, data.length);
    assert.ok(reply.body.equals(data));
  });

  it("answers 304 to If-None-Match with the ETag", async () => {
    const reply = await request(server, "GET", `/v2/${repo}/blobs/${digest}`, { headers: { "If-None-Match": `"${digest}"` } });
    assert.equal(reply.status, 304);
    assert.equal(reply.body.length, 0);
  });

  it("answers 404 BLOB_UNKNOWN for a missing blob (GET and HEAD)", async () => {
    const missing = digestOf("not pushed");
    expectError(await request(server, "GET", `/v2/${repo}/blobs/${missing}`), 404, "BLOB_UNKNOWN");
    expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${missing}`), 404, "BLOB_UNKNOWN");
  });

  it("does not serve a blob through a repository that does not hold it", async () => {
    expectError(await request(server, "GET", `/v2/other/repo/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    expectError(await request(server, "HEAD", `/v2/other/repo/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  });

  it("answers DIGEST_INVALID for a malformed digest", async () => {
    for (const bad of ["sha256:xyz", "sha256:" + "A".repeat(64), "nodigest", "sha256:" + "0".repeat(63), "md5:d41d8cd98f00b204e9800998ecf8427e"]) {
      expectError(await request(server, "GET", `/v2/${repo}/blobs/${bad}`), 400, "DIGEST_INVALID", bad);
    }
  });

  describe("Range", () => {
    const cases: { range: string; start: number; end: number }[] = [
      { range: "bytes=500-1499", start: 500, end: 1499 },
      { range: "bytes=500-", start: 500, end: 2047 },
      { range: "bytes=-500", start: 1548, end: 2047 },
      { range: "bytes=2000-5000", start: 2000, end: 2047 },
      { range: "bytes=0-0", start: 0, end: 0 },
      { range: "bytes=2047-2047", start: 2047, end: 2047 },
      { range: "bytes=-5000", start: 0, end: 2047 },
    ];
    for (const { range, start, end } of cases) {
      it(`${range} answers 206 with bytes ${start}-${end}`, async () => {
        const reply = await request(server, "GET", `/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
        assert.equal(reply.status, 206, reply.text());
        assert.equal(reply.header("content-range"), `bytes ${start}-${end}/2048`);
        assert.equal(reply.header("content-length"), String(end - start + 1));
        assert.equal(reply.header("docker-content-digest"), digest);
        assert.ok(reply.body.equals(data.subarray(start, end + 1)));
      });
    }

    it("HEAD with a Range answers 206 with the range's headers and no body", async () => {
      const reply = await request(server, "HEAD", `/v2/${repo}/blobs/${digest}`, { headers: { Range: "bytes=10-19" } });
      assert.equal(reply.status, 206);
      assert.equal(reply.header("content-range"), "bytes 10-19/2048");
      assert.equal(reply.header("content-length"), "10");
      assert.equal(reply.body.length, 0);
    });

    for (const range of ["bytes=5000-10000", "bytes=2048-", "bytes=-0", "bytes=500-0"]) {
      it(`${range} answers 416 with Content-Range: bytes */2048`, async () => {
        const reply = await request(server, "GET", `/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
        assert.equal(reply.status, 416, `${range}: ${reply.status} ${reply.header("content-range") ?? ""}`);
        assert.equal(reply.header("content-range"), "bytes */2048");
      });
    }

    it("ignores a Range it does not understand and serves the whole blob", async () => {
      for (const range of ["items=0-10", "bytes=abc", "bytes=", "garbage"]) {
        const reply = await request(server, "GET", `/v2/${repo}/blobs/${digest}`, { headers: { Range: range } });
        assert.equal(reply.status, 200, range);
        assert.ok(reply.body.equals(data), range);
      }
    });
  });

  describe("the empty blob and sha512", () => {
    it("serves the empty blob with Content-Length: 0", async () => {
      const empty = await pushBlob(server, repo, Buffer.alloc(0));
      assert.equal(empty, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
      const head = await request(server, "HEAD", `/v2/${repo}/blobs/${empty}`);
      assert.equal(head.status, 200);
      assert.equal(head.header("content-length"), "0");
      const get = await request(server, "GET", `/v2/${repo}/blobs/${empty}`);
      assert.equal(get.status, 200);
      assert.equal(get.header("content-length"), "0");
      assert.equal(get.body.length, 0);
      const range = await request(server, "GET", `/v2/${repo}/blobs/${empty}`, { headers: { Range: "bytes=0-" } });
      assert.equal(range.status, 416);
      assert.equal(range.header("content-range"), "bytes */0");
    });

    it("serves a sha512 blob under its sha512 digest", async () => {
      const blob = randomBlob(700);
      const d = await pushBlob(server, repo, blob, "sha512");
      const reply = await request(server, "GET", `/v2/${repo}/blobs/${d}`);
      assert.equal(reply.status, 200);
      blobHeaders(reply, d, blob.length);
      assert.ok(reply.body.equals(blob));
      const ranged = await request(server, "GET", `/v2/${repo}/blobs/${d}`, { headers: { Range: "bytes=-100" } });
      assert.equal(ranged.status, 206);
      assert.ok(ranged.body.equals(blob.subarray(600)));
    });
  });

  describe("DELETE", () => {
    it("answers 202, then the blob is gone at once (404 BLOB_UNKNOWN)", async () => {
      const blob = randomBlob(300);
      const d = await pushBlob(server, repo, blob);
      const reply = await request(server, "DELETE", `/v2/${repo}/blobs/${d}`);
      assert.equal(reply.status, 202, reply.text());
      expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${d}`), 404, "BLOB_UNKNOWN");
      expectError(await request(server, "GET", `/v2/${repo}/blobs/${d}`), 404, "BLOB_UNKNOWN");
      expectError(await request(server, "DELETE", `/v2/${repo}/blobs/${d}`), 404, "BLOB_UNKNOWN");
    });

    it("removes the blob from one repository only", async () => {
      const blob = randomBlob(301);
      const d = await pushBlob(server, "keep/a", blob);
      await pushBlob(server, "keep/b", blob);
      assert.equal((await request(server, "DELETE", `/v2/keep/a/blobs/${d}`)).status, 202);
      const other = await request(server, "GET", `/v2/keep/b/blobs/${d}`);
      assert.equal(other.status, 200);
      assert.ok(other.body.equals(blob));
    });

    it("answers 404 for a blob never pushed and 400 for a malformed digest", async () => {
      expectError(await request(server, "DELETE", `/v2/${repo}/blobs/${digestOf("never")}`), 404, "BLOB_UNKNOWN");
      expectError(await request(server, "DELETE", `/v2/${repo}/blobs/sha256:nope`), 400, "DIGEST_INVALID");
    });

    it("can push the same blob again after deleting it", async () => {
      const blob = randomBlob(302);
      const d = await pushBlob(server, repo, blob);
      assert.equal((await request(server, "DELETE", `/v2/${repo}/blobs/${d}`)).status, 202);
      await pushBlob(server, repo, blob);
      const reply = await request(server, "GET", `/v2/${repo}/blobs/${d}`);
      assert.ok(reply.body.equals(blob));
    });
  });
});
