import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { digestOf, expectError, pathOf, pushBlob, randomBlob, request, startTestServer, withDigest, type TestServer } from "./support.js";

/** Cross-repository mounts: POST /v2/<name>/blobs/uploads/?mount=<digest>[&from=<repo>]. */
describe("mounts", () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const expectMounted = async (repo: string, reply: Awaited<ReturnType<typeof request>>, digest: string, data: Buffer) => {
    assert.equal(reply.status, 201, reply.text());
    const location = reply.header("location");
    assert.ok(location, "no Location on a mount");
    assert.equal(pathOf(location), `/v2/${repo}/blobs/${digest}`);
    assert.equal(reply.header("docker-content-digest"), digest);
    const get = await request(server, "GET", location);
    assert.equal(get.status, 200);
    assert.ok(get.body.equals(data));
  };

  const expectSessionInstead = async (repo: string, reply: Awaited<ReturnType<typeof request>>, digest: string, data: Buffer) => {
    assert.equal(reply.status, 202, `expected a new upload session, got ${reply.status} ${reply.text()}`);
    const location = reply.header("location");
    assert.ok(location, "no Location on the 202");
    assert.ok(pathOf(location).startsWith(`/v2/${repo}/blobs/uploads/`), location);
    assert.ok(reply.header("docker-upload-uuid"));
    const put = await request(server, "PUT", withDigest(location, digest), { body: data });
    assert.equal(put.status, 201, put.text());
    assert.ok((await request(server, "GET", `/v2/${repo}/blobs/${digest}`)).body.equals(data));
  };

  it("mounts a blob from another repository: 201 and Location", async () => {
    const data = randomBlob(900);
    const digest = await pushBlob(server, "mount/source", data);
    const reply = await request(server, "POST", `/v2/mount/target/blobs/uploads/?mount=${digest}&from=mount/source`);
    await expectMounted("mount/target", reply, digest, data);
  });

  it("mounts a sha512 blob", async () => {
    const data = randomBlob(901);
    const digest = await pushBlob(server, "mount/source", data, "sha512");
    const reply = await request(server, "POST", `/v2/mount/sha512/blobs/uploads/?mount=${digest}&from=mount/source`);
    await expectMounted("mount/sha512", reply, digest, data);
  });

  it("answers 202 and a usable upload session when `from` lacks the blob", async () => {
    const data = randomBlob(902);
    const digest = digestOf(data);
    const reply = await request(server, "POST", `/v2/mount/missing/blobs/uploads/?mount=${digest}&from=mount/source`);
    await expectSessionInstead("mount/missing", reply, digest, data);
  });

  it("answers 202 when the blob exists elsewhere in the registry but not in `from`", async () => {
    const data = randomBlob(903);
    const digest = await pushBlob(server, "mount/elsewhere", data);
    const reply = await request(server, "POST", `/v2/mount/target2/blobs/uploads/?mount=${digest}&from=mount/source`);
    await expectSessionInstead("mount/target2", reply, digest, data);
  });

  it("mounts without `from` when the blob is stored anywhere (201)", async () => {
    const data = randomBlob(904);
    const digest = await pushBlob(server, "mount/anywhere", data);
    const reply = await request(server, "POST", `/v2/mount/anon/blobs/uploads/?mount=${digest}`);
    await expectMounted("mount/anon", reply, digest, data);
  });

  it("answers 202 for a mount without `from` of a blob stored nowhere", async () => {
    const data = randomBlob(905);
    const reply = await request(server, "POST", `/v2/mount/anon2/blobs/uploads/?mount=${digestOf(data)}`);
    await expectSessionInstead("mount/anon2", reply, digestOf(data), data);
  });

  it("keeps the mounted blob when the source repository deletes it", async () => {
    const data = randomBlob(906);
    const digest = await pushBlob(server, "mount/src3", data);
    assert.equal((await request(server, "POST", `/v2/mount/dst3/blobs/uploads/?mount=${digest}&from=mount/src3`)).status, 201);
    assert.equal((await request(server, "DELETE", `/v2/mount/src3/blobs/${digest}`)).status, 202);
    const get = await request(server, "GET", `/v2/mount/dst3/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.ok(get.body.equals(data));
  });

  it("refuses a malformed mount digest (DIGEST_INVALID) and an invalid `from` (NAME_INVALID)", async () => {
    expectError(await request(server, "POST", `/v2/mount/bad/blobs/uploads/?mount=sha256:nope&from=mount/source`), 400, "DIGEST_INVALID");
    const digest = await pushBlob(server, "mount/source", randomBlob(907));
    for (const from of ["UPPER", "a/../b", "trailing/", "-x"]) {
      expectError(await request(server, "POST", `/v2/mount/bad/blobs/uploads/?mount=${digest}&from=${encodeURIComponent(from)}`), 400, "NAME_INVALID", from);
    }
  });
});
