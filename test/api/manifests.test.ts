import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { digestOf, expectError, listHeader, mt, pathOf, pushImage, pushManifest, request, startTestServer, type PushedImage, type TestServer } from "./support.js";

/** Manifest PUT, GET, HEAD and DELETE by tag and by digest. */
describe("manifests", () => {
  let server: TestServer;
  const repo = "manifests/test";
  let image: PushedImage;
  before(async () => {
    server = await startTestServer();
    image = await pushImage(server, repo, "v1", { layers: 2 });
  });
  after(() => server.close());

  const expectManifest = async (method: "GET" | "HEAD", reference: string, body: Buffer, mediaType: string, digest: string, name = repo) => {
    const reply = await request(server, method, `/v2/${name}/manifests/${reference}`, { headers: { Accept: [mt.ociIndex, mt.ociManifest, mt.dockerManifest, mt.dockerList] } });
    assert.equal(reply.status, 200, `${method} ${reference}: ${reply.text()}`);
    assert.equal(reply.header("content-type"), mediaType);
    assert.equal(reply.header("content-length"), String(body.length));
    assert.equal(reply.header("docker-content-digest"), digest);
    if (method === "GET") assert.ok(reply.body.equals(body), "manifest bytes differ from what was pushed");
    else assert.equal(reply.body.length, 0);
    return reply;
  };

  it("PUT by tag answers 201 with Location and Docker-Content-Digest", async () => {
    const location = image.reply.header("location");
    assert.ok(location);
    assert.equal(pathOf(location), `/v2/${repo}/manifests/${image.digest}`);
    assert.equal(image.reply.header("docker-content-digest"), image.digest);
    await expectManifest("GET", pathOf(location).split("/").pop()!, image.body, mt.ociManifest, image.digest);
  });

  it("GET and HEAD by tag and by digest serve the pushed bytes and media type", async () => {
    for (const reference of ["v1", image.digest]) {
      await expectManifest("GET", reference, image.body, mt.ociManifest, image.digest);
      await expectManifest("HEAD", reference, image.body, mt.ociManifest, image.digest);
    }
  });

  it("serves the manifest whatever the Accept header says (the bytes are what the digest names)", async () => {
    const reply = await request(server, "GET", `/v2/${repo}/manifests/${image.digest}`, { headers: { Accept: "application/json" } });
    assert.equal(reply.status, 200);
    assert.ok(reply.body.equals(image.body));
  });

  it("PUT by digest answers 201; the digest must match the bytes", async () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: image.config, layers: image.layers, annotations: { by: "digest" } }));
    const digest = digestOf(body);
    const pushed = await pushManifest(server, repo, digest, body, mt.ociManifest);
    assert.equal(pushed.reply.header("docker-content-digest"), digest);
    assert.equal(pathOf(pushed.reply.header("location")!), `/v2/${repo}/manifests/${digest}`);
    await expectManifest("GET", digest, body, mt.ociManifest, digest);
    const wrong = Buffer.concat([body, Buffer.from("  ")]);
    expectError(await request(server, "PUT", `/v2/${repo}/manifests/${digest}`, { body: wrong, headers: { "Content-Type": mt.ociManifest } }), 400, "DIGEST_INVALID");
    expectError(await request(server, "PUT", `/v2/${repo}/manifests/sha256:baddigeststring`, { body, headers: { "Content-Type": mt.ociManifest } }), 400, "DIGEST_INVALID");
  });

  it("accepts a manifest sent with chunked transfer encoding", async () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: image.config, layers: [], annotations: { sent: "chunked" } }));
    const reply = await request(server, "PUT", `/v2/${repo}/manifests/chunked`, { body, chunked: true, headers: { "Content-Type": mt.ociManifest } });
    assert.equal(reply.status, 201, reply.text());
    await expectManifest("GET", "chunked", body, mt.ociManifest, digestOf(body));
  });

  it("PUT by digest with ?tag= sets every tag and answers with OCI-Tag", async () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: image.config, layers: image.layers, annotations: { multi: "tag" } }));
    const digest = digestOf(body);
    const tags = ["1.2.3", "1.2", "1", "latest"];
    const query = tags.map((t) => `tag=${t}`).join("&");
    const reply = await request(server, "PUT", `/v2/${repo}/manifests/${digest}?${query}`, { body, headers: { "Content-Type": mt.ociManifest } });
    assert.equal(reply.status, 201, reply.text());
    assert.deepEqual(listHeader(reply, "oci-tag").sort(), [...tags].sort());
    for (const tag of tags) await expectManifest("GET", tag, body, mt.ociManifest, digest);
    const list = await request(server, "GET", `/v2/${repo}/tags/list`);
    for (const tag of tags) assert.ok(list.json<{ tags: string[] }>().tags.includes(tag), tag);
  });

  it("pushes a sha512 manifest by digest and serves it with a sha512 Docker-Content-Digest", async () => {
    const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: image.config, layers: image.layers, annotations: { alg: "sha512" } }));
    const digest = digestOf(body, "sha512");
    const pushed = await pushManifest(server, repo, digest, body, mt.ociManifest);
    assert.equal(pushed.reply.header("docker-content-digest"), digest);
    await expectManifest("GET", digest, body, mt.ociManifest, digest);
    await expectManifest("HEAD", digest, body, mt.ociManifest, digest);
    const tagged = await request(server, "PUT", `/v2/${repo}/manifests/${digest}?tag=sha512-tag`, { body, headers: { "Content-Type": mt.ociManifest } });
    assert.equal(tagged.status, 201);
    await expectManifest("GET", "sha512-tag", body, mt.ociManifest, digest);
  });

  it("replaces a tag: PUT of another manifest under the same tag moves it", async () => {
    const second = await pushImage(server, repo, "moving");
    const third = await pushImage(server, repo, "moving");
    await expectManifest("GET", "moving", third.body, mt.ociManifest, third.digest);
    await expectManifest("GET", second.digest, second.body, mt.ociManifest, second.digest);
  });

  it("answers 404 MANIFEST_UNKNOWN for missing tags and digests, and 404 for unknown repositories", async () => {
    expectError(await request(server, "GET", `/v2/${repo}/manifests/missing-abcdefghijklmnopqrst`), 404, "MANIFEST_UNKNOWN");
    expectError(await request(server, "HEAD", `/v2/${repo}/manifests/missing-tag`), 404, "MANIFEST_UNKNOWN");
    expectError(await request(server, "GET", `/v2/${repo}/manifests/${digestOf("nope")}`), 404, "MANIFEST_UNKNOWN");
    expectError(await request(server, "GET", `/v2/no/such/repo/manifests/latest`), 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
    expectError(await request(server, "GET", `/v2/other/manifests/${image.digest}`), 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
  });

  it("answers 400 or 404 for a malformed digest reference, and 404 for a reference that is no valid tag", async () => {
    const bad = await request(server, "GET", `/v2/${repo}/manifests/sha256:baddigeststring`);
    assert.ok(bad.status === 400 || bad.status === 404, String(bad.status));
    // The v1.1.0 conformance suite (01_pull_test.go) requires 404 here.
    expectError(await request(server, "GET", `/v2/${repo}/manifests/.INVALID_MANIFEST_NAME`), 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
    expectError(await request(server, "HEAD", `/v2/${repo}/manifests/.INVALID_MANIFEST_NAME`), 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
  });

  describe("DELETE", () => {
    it("by digest: 202, then the digest and every tag on it answer 404", async () => {
      const doomed = await pushImage(server, repo, "doomed");
      await request(server, "PUT", `/v2/${repo}/manifests/${doomed.digest}?tag=doomed2`, { body: doomed.body, headers: { "Content-Type": mt.ociManifest } });
      const reply = await request(server, "DELETE", `/v2/${repo}/manifests/${doomed.digest}`);
      assert.equal(reply.status, 202, reply.text());
      expectError(await request(server, "HEAD", `/v2/${repo}/manifests/${doomed.digest}`), 404, "MANIFEST_UNKNOWN");
      expectError(await request(server, "GET", `/v2/${repo}/manifests/${doomed.digest}`), 404, "MANIFEST_UNKNOWN");
      for (const tag of ["doomed", "doomed2"]) expectError(await request(server, "GET", `/v2/${repo}/manifests/${tag}`), 404, "MANIFEST_UNKNOWN", tag);
      const tags = (await request(server, "GET", `/v2/${repo}/tags/list`)).json<{ tags: string[] }>().tags;
      assert.ok(!tags.includes("doomed") && !tags.includes("doomed2"), tags.join(","));
      expectError(await request(server, "DELETE", `/v2/${repo}/manifests/${doomed.digest}`), 404, "MANIFEST_UNKNOWN");
    });

    it("by tag: 202, removes only the tag; the manifest and other tags stay", async () => {
      const kept = await pushImage(server, repo, "untag-me");
      await request(server, "PUT", `/v2/${repo}/manifests/${kept.digest}?tag=stays`, { body: kept.body, headers: { "Content-Type": mt.ociManifest } });
      const reply = await request(server, "DELETE", `/v2/${repo}/manifests/untag-me`);
      assert.equal(reply.status, 202, reply.text());
      expectError(await request(server, "HEAD", `/v2/${repo}/manifests/untag-me`), 404, "MANIFEST_UNKNOWN");
      await expectManifest("GET", kept.digest, kept.body, mt.ociManifest, kept.digest);
      await expectManifest("GET", "stays", kept.body, mt.ociManifest, kept.digest);
      expectError(await request(server, "DELETE", `/v2/${repo}/manifests/untag-me`), 404, "MANIFEST_UNKNOWN");
    });

    it("a deleted manifest can be pushed again", async () => {
      const again = await pushImage(server, repo, "again");
      assert.equal((await request(server, "DELETE", `/v2/${repo}/manifests/${again.digest}`)).status, 202);
      await pushManifest(server, repo, "again", again.body, mt.ociManifest);
      await expectManifest("GET", "again", again.body, mt.ociManifest, again.digest);
    });

    it("answers 404 in a repository that does not exist", async () => {
      expectError(await request(server, "DELETE", `/v2/no/such/repo/manifests/${image.digest}`), 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
      expectError(await request(server, "DELETE", `/v2/no/such/repo/manifests/latest`), 404, ["MANIFEST_UNKNOWN", "NAME_UNKNOWN"]);
    });

    it("answers DIGEST_INVALID for a malformed digest", async () => {
      expectError(await request(server, "DELETE", `/v2/${repo}/manifests/sha256:zzz`), 400, "DIGEST_INVALID");
    });
  });
});
