import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { digestOf, expectError, pathOf, randomBlob, request, sleep, startTestServer, startUpload, withDigest, type Reply, type TestServer } from "./support.js";

/** Upload sessions: POST, PATCH (chunked and streamed), PUT, GET status, DELETE. */
describe("uploads", () => {
  let server: TestServer;
  const repo = "uploads/test";
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const expectSession = (reply: Reply, status: number, range: string) => {
    assert.equal(reply.status, status, reply.text());
    const location = reply.header("location");
    assert.ok(location, "no Location");
    assert.match(pathOf(location), new RegExp(`^/v2/${repo}/blobs/uploads/[^/?]+`));
    const uuid = reply.header("docker-upload-uuid");
    assert.ok(uuid, "no Docker-Upload-UUID");
    assert.ok(pathOf(location).includes(uuid), "Location does not name the upload UUID");
    assert.equal(reply.header("range"), range);
    return location;
  };

  const expectBlob = async (location: string | undefined, digest: string, data: Buffer) => {
    assert.ok(location, "no Location on 201");
    assert.equal(pathOf(location), `/v2/${repo}/blobs/${digest}`);
    const reply = await request(server, "GET", location);
    assert.equal(reply.status, 200);
    assert.equal(reply.header("docker-content-digest"), digest);
    assert.ok(reply.body.equals(data), "blob bytes differ");
  };

  const patch = (location: string, chunk: Buffer, range?: string) =>
    request(server, "PATCH", location, {
      body: chunk,
      headers: range === undefined ? { "Content-Type": "application/octet-stream" } : { "Content-Type": "application/octet-stream", "Content-Range": range },
    });

  it("POST answers 202 with Location, Docker-Upload-UUID and Range 0-0", async () => {
    const reply = await request(server, "POST", `/v2/${repo}/blobs/uploads/`);
    expectSession(reply, 202, "0-0");
    assert.equal(reply.header("content-length"), "0");
  });

  it("single POST ?digest= answers 201 with a pullable Location", async () => {
    const data = randomBlob(1000);
    const digest = digestOf(data);
    const reply = await request(server, "POST", `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: data, headers: { "Content-Type": "application/octet-stream" } });
    assert.equal(reply.status, 201, reply.text());
    assert.equal(reply.header("docker-content-digest"), digest);
    await expectBlob(reply.header("location"), digest, data);
  });

  it("POST then PUT ?digest= with the whole body answers 201", async () => {
    const data = randomBlob(1500);
    const digest = digestOf(data);
    const location = await startUpload(server, repo);
    const reply = await request(server, "PUT", withDigest(location, digest), { body: data, headers: { "Content-Type": "application/octet-stream" } });
    assert.equal(reply.status, 201, reply.text());
    assert.equal(reply.header("docker-content-digest"), digest);
    await expectBlob(reply.header("location"), digest, data);
  });

  it("chunked PATCHes with Content-Range answer 202 with Range 0-<end>, then PUT without a body completes", async () => {
    const data = randomBlob(3067);
    const digest = digestOf(data);
    let location = await startUpload(server, repo);
    for (const [start, end] of [[0, 1023], [1024, 2047], [2048, 3066]] as const) {
      const reply = await patch(location, data.subarray(start, end + 1), `${start}-${end}`);
      location = expectSession(reply, 202, `0-${end}`);
    }
    const done = await request(server, "PUT", withDigest(location, digest));
    assert.equal(done.status, 201, done.text());
    await expectBlob(done.header("location"), digest, data);
  });

  it("accepts chunks of any size when it advertises no OCI-Chunk-Min-Length", async () => {
    const data = randomBlob(5);
    const start = await request(server, "POST", `/v2/${repo}/blobs/uploads/`);
    let location = expectSession(start, 202, "0-0");
    const min = start.header("oci-chunk-min-length");
    if (min !== undefined) assert.match(min, /^\d+$/);
    else {
      for (let i = 0; i < data.length; i++) location = expectSession(await patch(location, data.subarray(i, i + 1), `${i}-${i}`), 202, `0-${i}`);
      const done = await request(server, "PUT", withDigest(location, digestOf(data)));
      assert.equal(done.status, 201, done.text());
      await expectBlob(done.header("location"), digestOf(data), data);
    }
  });

  it("PUT ?digest= may carry the final chunk with its Content-Range", async () => {
    const data = randomBlob(2000);
    const digest = digestOf(data);
    let location = await startUpload(server, repo);
    location = expectSession(await patch(location, data.subarray(0, 1200), "0-1199"), 202, "0-1199");
    const done = await request(server, "PUT", withDigest(location, digest), {
      body: data.subarray(1200),
      headers: { "Content-Type": "application/octet-stream", "Content-Range": "1200-1999" },
    });
    assert.equal(done.status, 201, done.text());
    await expectBlob(done.header("location"), digest, data);
  });

  it("answers 416 to a chunk that does not start at the current offset; the session survives", async () => {
    const data = randomBlob(42);
    const digest = digestOf(data);
    const first = await startUpload(server, repo);
    assert.equal((await patch(first, data.subarray(22), "22-41")).status, 416, "first chunk not starting at 0");
    assert.equal((await patch(first, data.subarray(0, 22), "0-21")).status, 202);
    assert.equal((await patch(first, data.subarray(0, 22), "0-21")).status, 416, "chunk sent twice");
    assert.equal((await patch(first, data.subarray(30), "30-41")).status, 416, "chunk skipping ahead");
    const status = await request(server, "GET", first);
    const location = expectSession(status, 204, "0-21");
    const last = await request(server, "PUT", withDigest(location, digest), {
      body: data.subarray(10),
      headers: { "Content-Type": "application/octet-stream", "Content-Range": "10-41" },
    });
    assert.equal(last.status, 416, "final PUT chunk out of order");
    expectSession(await request(server, "GET", location), 204, "0-21");
    assert.equal((await patch(location, data.subarray(22), "22-41")).status, 202);
    const done = await request(server, "PUT", withDigest(location, digest));
    assert.equal(done.status, 201, done.text());
    await expectBlob(done.header("location"), digest, data);
  });

  it("accepts a streamed PATCH with no Content-Length (chunked transfer encoding)", async () => {
    const data = randomBlob(200_000);
    const digest = digestOf(data);
    const location = await startUpload(server, repo);
    async function* pieces() {
      for (let i = 0; i < data.length; i += 16_384) {
        yield data.subarray(i, i + 16_384);
        await sleep(1);
      }
    }
    const reply = await request(server, "PATCH", location, { body: Readable.from(pieces()), headers: { "Content-Type": "application/octet-stream" } });
    const next = expectSession(reply, 202, `0-${data.length - 1}`);
    const done = await request(server, "PUT", withDigest(next, digest));
    assert.equal(done.status, 201, done.text());
    await expectBlob(done.header("location"), digest, data);
  });

  it("accepts several streamed PATCHes without Content-Range, appended in order", async () => {
    const data = randomBlob(9000);
    let location = await startUpload(server, repo);
    for (const [start, end] of [[0, 2999], [3000, 5999], [6000, 8999]] as const) {
      location = expectSession(await request(server, "PATCH", location, { body: data.subarray(start, end + 1), chunked: true }), 202, `0-${end}`);
    }
    const done = await request(server, "PUT", withDigest(location, digestOf(data)));
    assert.equal(done.status, 201, done.text());
    await expectBlob(done.header("location"), digestOf(data), data);
  });

  it("accepts a streamed PATCH followed by a streamed final PUT", async () => {
    const data = randomBlob(5000);
    const digest = digestOf(data);
    const location = await startUpload(server, repo);
    const next = expectSession(await request(server, "PATCH", location, { body: data.subarray(0, 3000), chunked: true }), 202, "0-2999");
    const done = await request(server, "PUT", withDigest(next, digest), { body: data.subarray(3000), chunked: true });
    assert.equal(done.status, 201, done.text());
    await expectBlob(done.header("location"), digest, data);
  });

  it("GET on the upload answers 204 with Range, Location and Docker-Upload-UUID", async () => {
    const location = await startUpload(server, repo);
    const empty = await request(server, "GET", location);
    expectSession(empty, 204, "0-0");
    assert.equal(empty.body.length, 0);
    await patch(location, randomBlob(100), "0-99");
    expectSession(await request(server, "GET", location), 204, "0-99");
  });

  it("DELETE cancels: 204, then 404 BLOB_UPLOAD_UNKNOWN for every upload method", async () => {
    const location = await startUpload(server, repo);
    await patch(location, randomBlob(10), "0-9");
    const cancel = await request(server, "DELETE", location);
    assert.equal(cancel.status, 204, cancel.text());
    expectError(await request(server, "GET", location), 404, "BLOB_UPLOAD_UNKNOWN");
    expectError(await patch(location, randomBlob(10), "10-19"), 404, "BLOB_UPLOAD_UNKNOWN");
    expectError(await request(server, "PUT", withDigest(location, digestOf("x"))), 404, "BLOB_UPLOAD_UNKNOWN");
    expectError(await request(server, "DELETE", location), 404, "BLOB_UPLOAD_UNKNOWN");
  });

  it("a completed upload is gone: its Location answers 404 BLOB_UPLOAD_UNKNOWN", async () => {
    const data = randomBlob(64);
    const location = await startUpload(server, repo);
    assert.equal((await request(server, "PUT", withDigest(location, digestOf(data)), { body: data })).status, 201);
    expectError(await request(server, "GET", location), 404, "BLOB_UPLOAD_UNKNOWN");
    expectError(await patch(location, data, "0-63"), 404, "BLOB_UPLOAD_UNKNOWN");
  });

  it("answers 404 BLOB_UPLOAD_UNKNOWN for unknown, malformed or other repositories' upload ids", async () => {
    const theirs = await startUpload(server, "someone/else");
    const id = pathOf(theirs).split("/").pop()!.split("?")[0]!;
    for (const path of [`/v2/${repo}/blobs/uploads/${id}`, `/v2/${repo}/blobs/uploads/00000000-0000-0000-0000-000000000000`, `/v2/${repo}/blobs/uploads/%2e%2e`, `/v2/${repo}/blobs/uploads/${"x".repeat(300)}`]) {
      expectError(await request(server, "GET", path), 404, "BLOB_UPLOAD_UNKNOWN", path);
      expectError(await request(server, "PATCH", path, { body: "abc" }), 404, "BLOB_UPLOAD_UNKNOWN", path);
      expectError(await request(server, "PUT", `${path}?digest=${digestOf("abc")}`, { body: "abc" }), 404, "BLOB_UPLOAD_UNKNOWN", path);
      expectError(await request(server, "DELETE", path), 404, "BLOB_UPLOAD_UNKNOWN", path);
    }
    assert.equal((await request(server, "GET", theirs)).status, 204, "the other repository's session was disturbed");
  });

  it("refuses a chunk whose Content-Length disagrees with its Content-Range, storing nothing", async () => {
    const location = await startUpload(server, repo);
    const reply = await patch(location, randomBlob(50), "0-99");
    assert.ok(reply.status === 400 || reply.status === 416, `${reply.status} ${reply.text()}`);
    expectSession(await request(server, "GET", location), 204, "0-0");
  });

  it("accepts Expect: 100-continue (curl sends it for large PUT -T)", async () => {
    const data = randomBlob(2 << 20);
    const digest = digestOf(data);
    const location = await startUpload(server, repo);
    const reply = await request(server, "PUT", withDigest(location, digest), { body: data, headers: { Expect: "100-continue", "Content-Type": "application/octet-stream" } });
    assert.equal(reply.status, 201, reply.text());
    await expectBlob(reply.header("location"), digest, data);
  });

  it("two PATCHes racing on one session: one wins, the other is refused, the blob comes out right", async () => {
    const data = randomBlob(400_000);
    const digest = digestOf(data);
    const location = await startUpload(server, repo);
    const replies = await Promise.all([0, 1].map(() => patch(location, data, `0-${data.length - 1}`)));
    const statuses = replies.map((r) => r.status).sort();
    assert.equal(statuses[0], 202, statuses.join(","));
    assert.ok(statuses[1] === 416 || statuses[1] === 400 || statuses[1] === 409, statuses.join(","));
    expectSession(await request(server, "GET", location), 204, `0-${data.length - 1}`);
    const done = await request(server, "PUT", withDigest(location, digest));
    assert.equal(done.status, 201, done.text());
    await expectBlob(done.header("location"), digest, data);
  });

  it("SIZE_INVALID or 416 when a chunk's body is shorter than its Content-Range, and nothing is published", async () => {
    const data = randomBlob(100);
    const location = await startUpload(server, repo);
    const reply = await request(server, "PATCH", location, { body: data.subarray(0, 50), chunked: true, headers: { "Content-Range": "0-99" } });
    assert.ok(reply.status === 400 || reply.status === 416, `${reply.status} ${reply.text()}`);
    if (reply.status === 400) expectError(reply, 400, ["SIZE_INVALID", "BLOB_UPLOAD_INVALID"]);
    expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${digestOf(data)}`), 404, "BLOB_UNKNOWN");
  });
});
