import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { storageProblems } from "./storage-check.js";
import { descriptor, digestOf, expectError, mt, pathOf, pushImage, pushManifest, randomBlob, request, sleep, startTestServer, startUpload, storageRoot, withDigest, type TestServer } from "./support.js";
import { applied } from "../../src/storage/ops.js";

/** Bytes stored for an upload, from its status (Range: 0-<last>); 0 and 1 both read "0-0", so 1 never counts. */
async function storedBytes(server: TestServer, location: string): Promise<number> {
  const reply = await request(server, "GET", location);
  assert.equal(reply.status, 204, reply.text());
  const match = /^0-(\d+)$/.exec(reply.header("range") ?? "");
  assert.ok(match, `bad Range ${reply.header("range")}`);
  const last = Number(match[1]);
  return last === 0 ? 0 : last + 1;
}

/** Waits until the stored size stops moving (the server has finished with the dead request). */
async function settledBytes(server: TestServer, location: string): Promise<number> {
  let previous = -1;
  for (let i = 0; i < 100; i++) {
    const now = await storedBytes(server, location);
    if (now === previous) return now;
    previous = now;
    await sleep(100);
  }
  assert.fail("upload size never settled");
}

/**
 * Starts a request that announces the whole of `data` but sends only `sent` bytes of it, waits until
 * the server has stored some of them, then destroys the connection.
 */
async function dieMidBody(server: TestServer, method: string, path: string, data: Buffer, sent: number, watch: string, headers: Record<string, string | number> = {}): Promise<void> {
  const req = httpRequest({ host: server.host, port: server.port, method, path, headers: { "Content-Length": data.length, "Content-Type": "application/octet-stream", ...headers } });
  let answered = false;
  req.on("response", () => (answered = true));
  req.on("error", () => {});
  req.write(data.subarray(0, sent));
  for (let i = 0; i < 200 && (await storedBytes(server, watch)) === 0; i++) await sleep(10);
  req.destroy();
  assert.equal(answered, false, "the server answered a request whose body never finished");
}

describe("durability", () => {
  let server: TestServer;
  const repo = "durable/test";
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it("a PATCH cut off mid-body publishes nothing and leaves the session resumable", async () => {
    const data = randomBlob(1 << 20);
    const digest = digestOf(data);
    const location = await startUpload(server, repo);
    await dieMidBody(server, "PATCH", pathOf(location), data, 400_000, location, { "Content-Range": `0-${data.length - 1}` });
    const stored = await settledBytes(server, location);
    assert.ok(stored > 0 && stored <= 400_000, `stored ${stored}`);
    expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    // Continuing from the offset the status reports completes the blob correctly.
    assert.equal((await request(server, "PATCH", location, { body: data.subarray(0, 10), headers: { "Content-Range": "0-9" } })).status, 416);
    const resumed = await request(server, "PATCH", location, { body: data.subarray(stored), headers: { "Content-Range": `${stored}-${data.length - 1}` } });
    assert.equal(resumed.status, 202, resumed.text());
    assert.equal(resumed.header("range"), `0-${data.length - 1}`);
    const done = await request(server, "PUT", withDigest(resumed.header("location")!, digest));
    assert.equal(done.status, 201, done.text());
    const get = await request(server, "GET", `/v2/${repo}/blobs/${digest}`);
    assert.ok(get.body.equals(data), "resumed blob differs");
  });

  it("a final PUT cut off mid-body publishes nothing and leaves the session resumable", async () => {
    const data = randomBlob(1 << 20);
    const digest = digestOf(data);
    const location = await startUpload(server, repo);
    await dieMidBody(server, "PUT", withDigest(location, digest), data, 300_000, location);
    const stored = await settledBytes(server, location);
    assert.ok(stored <= 300_000, `stored ${stored}`);
    expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    const done = await request(server, "PUT", withDigest(location, digest), { body: data.subarray(stored), headers: { "Content-Range": `${stored}-${data.length - 1}` } });
    assert.equal(done.status, 201, done.text());
    assert.ok((await request(server, "GET", `/v2/${repo}/blobs/${digest}`)).body.equals(data));
  });

  it("a single POST ?digest= cut off mid-body publishes nothing", async () => {
    const data = randomBlob(1 << 20);
    const digest = digestOf(data);
    const req = httpRequest({ host: server.host, port: server.port, method: "POST", path: `/v2/${repo}/blobs/uploads/?digest=${digest}`, headers: { "Content-Length": data.length } });
    req.on("error", () => {});
    req.write(data.subarray(0, 500_000));
    await sleep(200);
    req.destroy();
    await sleep(200);
    expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${digest}`), 404, "BLOB_UNKNOWN");
    expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${digestOf(data.subarray(0, 500_000))}`), 404, "BLOB_UNKNOWN");
  });

  it("leaves the storage root consistent after the cut-off requests", async () => {
    await applied(server.running.registry.driver);
    assert.deepEqual(await storageProblems(storageRoot(server)), []);
  });

  it("an upload session survives a restart of the server", async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-api-restart-"));
    try {
      const data = randomBlob(300_000);
      const digest = digestOf(data, "sha512");
      const first = await startTestServer({}, root);
      const location = pathOf(await startUpload(first, repo, "?digest-algorithm=sha512"));
      assert.equal((await request(first, "PATCH", location, { body: data.subarray(0, 100_000), headers: { "Content-Range": "0-99999" } })).status, 202);
      await first.close();
      const second = await startTestServer({}, root);
      try {
        assert.equal(await storedBytes(second, location), 100_000);
        const rest = await request(second, "PATCH", location, { body: data.subarray(100_000), chunked: true });
        assert.equal(rest.status, 202, rest.text());
        const done = await request(second, "PUT", withDigest(location, digest));
        assert.equal(done.status, 201, done.text());
        assert.ok((await request(second, "GET", `/v2/${repo}/blobs/${digest}`)).body.equals(data));
        await applied(second.running.registry.driver);
        assert.deepEqual(await storageProblems(root), []);
      } finally {
        await second.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("manifests keep their media type and bytes across a restart", async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-api-restart-"));
    try {
      const first = await startTestServer({}, root);
      const oci = await pushImage(first, repo, "oci");
      const docker = await pushImage(first, repo, "docker", { docker: true });
      const pushed = [
        { tag: "oci", body: oci.body, type: mt.ociManifest },
        { tag: "docker", body: docker.body, type: mt.dockerManifest },
        await putRaw(first, "index", { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [descriptor(mt.ociManifest, oci.body)] }, mt.ociIndex),
        await putRaw(first, "list", { schemaVersion: 2, mediaType: mt.dockerList, manifests: [descriptor(mt.dockerManifest, docker.body, { platform: { os: "linux", architecture: "amd64" } })] }, mt.dockerList),
        await putRaw(first, "bare", { schemaVersion: 2, config: oci.config, layers: oci.layers }, mt.ociManifest),
        await putRaw(first, "bare-index", { schemaVersion: 2, manifests: [] }, mt.ociIndex),
      ];
      await first.close();
      const second = await startTestServer({}, root);
      try {
        for (const { tag, body, type } of pushed) {
          for (const reference of [tag, digestOf(body)]) {
            const reply = await request(second, "GET", `/v2/${repo}/manifests/${reference}`);
            assert.equal(reply.status, 200, reference);
            assert.equal(reply.header("content-type"), type, `${tag} after restart`);
            assert.ok(reply.body.equals(body), `${tag} bytes after restart`);
          }
        }
      } finally {
        await second.close();
      }
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

async function putRaw(server: TestServer, tag: string, manifest: object, type: string): Promise<{ tag: string; body: Buffer; type: string }> {
  const pushed = await pushManifest(server, "durable/test", tag, manifest, type);
  return { tag, body: pushed.body, type };
}
