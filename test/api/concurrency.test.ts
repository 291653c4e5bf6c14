import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { storageProblems } from "./storage-check.js";
import { bucketLeftovers, descriptor, digestOf, mt, pushBlob, randomBlob, request, startTestServer, startUpload, storageRoot, withDigest, type TestServer } from "./support.js";
import { applied } from "../../src/storage/ops.js";

describe("concurrency", () => {
  let server: TestServer;
  const repo = "concurrent/test";
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it("8 concurrent uploads of the same blob, by every method, all succeed", async () => {
    const data = randomBlob(256 * 1024);
    const digest = digestOf(data);
    const upload = async (i: number): Promise<number> => {
      const name = i % 2 === 0 ? repo : `${repo}-${i}`;
      switch (i % 4) {
        case 0:
          return (await request(server, "POST", `/v2/${name}/blobs/uploads/?digest=${digest}`, { body: data })).status;
        case 1: {
          const location = await startUpload(server, name);
          return (await request(server, "PUT", withDigest(location, digest), { body: data })).status;
        }
        case 2: {
          const location = await startUpload(server, name);
          const half = data.length / 2;
          const first = await request(server, "PATCH", location, { body: data.subarray(0, half), headers: { "Content-Range": `0-${half - 1}` } });
          const second = await request(server, "PATCH", first.header("location")!, { body: data.subarray(half), headers: { "Content-Range": `${half}-${data.length - 1}` } });
          return (await request(server, "PUT", withDigest(second.header("location")!, digest))).status;
        }
        default: {
          const location = await startUpload(server, name);
          const streamed = await request(server, "PATCH", location, { body: data, chunked: true });
          return (await request(server, "PUT", withDigest(streamed.header("location")!, digest))).status;
        }
      }
    };
    const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => upload(i)));
    assert.deepEqual(statuses, Array(8).fill(201));
    for (const name of [repo, `${repo}-1`, `${repo}-3`, `${repo}-5`, `${repo}-7`]) {
      const get = await request(server, "GET", `/v2/${name}/blobs/${digest}`);
      assert.equal(get.status, 200, name);
      assert.ok(get.body.equals(data), name);
    }
  });

  it("8 concurrent PUTs of different manifests to one tag all succeed; the tag names one of them", async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    await pushBlob(server, repo, config);
    const bodies = Array.from({ length: 8 }, (_, i) =>
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config), layers: [], annotations: { writer: String(i) } })),
    );
    const replies = await Promise.all(bodies.map((body) => request(server, "PUT", `/v2/${repo}/manifests/contested`, { body, headers: { "Content-Type": mt.ociManifest } })));
    for (const reply of replies) assert.equal(reply.status, 201, reply.text());
    const digests = bodies.map((b) => digestOf(b));
    const get = await request(server, "GET", `/v2/${repo}/manifests/contested`);
    assert.equal(get.status, 200);
    const winner = get.header("docker-content-digest")!;
    assert.ok(digests.includes(winner), `tag points at ${winner}, none of the pushed manifests`);
    assert.equal(digestOf(get.body), winner, "tag serves bytes that do not match its digest");
    for (const [i, digest] of digests.entries()) {
      const byDigest = await request(server, "GET", `/v2/${repo}/manifests/${digest}`);
      assert.ok(byDigest.body.equals(bodies[i]!), `manifest ${i} not stored intact`);
    }
    const tags = (await request(server, "GET", `/v2/${repo}/tags/list`)).json<{ tags: string[] }>().tags;
    assert.equal(tags.filter((t) => t === "contested").length, 1);
  });

  it("concurrent PUTs of the same manifest under several tags all land", async () => {
    const config = Buffer.from('{"architecture":"arm64","os":"linux"}');
    await pushBlob(server, repo, config);
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config), layers: [] }));
    const tags = Array.from({ length: 8 }, (_, i) => `same-${i}`);
    const replies = await Promise.all(tags.map((tag) => request(server, "PUT", `/v2/${repo}/manifests/${tag}`, { body, headers: { "Content-Type": mt.ociManifest } })));
    for (const reply of replies) assert.equal(reply.status, 201);
    for (const tag of tags) assert.equal((await request(server, "GET", `/v2/${repo}/manifests/${tag}`)).header("docker-content-digest"), digestOf(body));
  });

  it("leaves nothing half-written under the storage root", async () => {
    const uploads = "docker/registry/v2/repositories/concurrent/test/_uploads";
    if (server.bucket !== undefined) {
      // On S3 (the API tests' S3 pass): no upload session nor unfinished multipart upload is left.
      assert.deepEqual(await bucketLeftovers(server, `${uploads}/`), { keys: [], uploads: [] }, "completed upload sessions left behind");
      return;
    }
    await applied(server.running.registry.driver);
    assert.deepEqual(await storageProblems(storageRoot(server)), []);
    const left = await readdir(join(storageRoot(server), uploads)).catch(() => []);
    assert.deepEqual(left, [], "completed upload sessions left behind");
  });
});
