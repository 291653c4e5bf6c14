import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { descriptor, digestOf, expectError, mt, pushBlob, pushImage, pushManifest, randomBlob, request, startTestServer, type Descriptor, type PushedManifest, type TestServer } from "./support.js";

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

/** Subjects and the referrers API. */
describe("referrers", () => {
  let server: TestServer;
  const repo = "referrers/test";
  const artifactType = "application/vnd.example.sbom.v1";
  let subject: PushedManifest;
  let subjectDescriptor: Descriptor;
  let emptyConfig: Descriptor;
  before(async () => {
    server = await startTestServer();
    subject = await pushImage(server, repo, "subject");
    subjectDescriptor = descriptor(mt.ociManifest, subject.body);
    await pushBlob(server, repo, "{}");
    emptyConfig = descriptor(mt.ociEmpty, "{}");
  });
  after(() => server.close());

  const referrers = async (digest: string, query = "", name = repo) => {
    const reply = await request(server, "GET", `/v2/${name}/referrers/${digest}${query}`);
    assert.equal(reply.status, 200, reply.text());
    assert.equal(reply.header("content-type"), mt.ociIndex);
    const index = reply.json<Index>();
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, mt.ociIndex);
    assert.ok(Array.isArray(index.manifests));
    return { index, reply };
  };

  /** Pushes an artifact manifest with a subject and checks OCI-Subject. */
  const pushReferrer = async (tag: string, extra: Record<string, unknown>, subjectOf: Descriptor = subjectDescriptor) => {
    const layer = randomBlob(64);
    await pushBlob(server, repo, layer);
    const body = { schemaVersion: 2, mediaType: mt.ociManifest, config: emptyConfig, layers: [descriptor("application/octet-stream", layer)], subject: subjectOf, ...extra };
    const pushed = await pushManifest(server, repo, tag, body, mt.ociManifest);
    assert.equal(pushed.reply.header("oci-subject"), subjectOf.digest, "OCI-Subject missing or wrong");
    return pushed;
  };

  it("answers 200 with an empty OCI index for a subject nobody refers to, even in an unknown repository", async () => {
    assert.deepEqual((await referrers(digestOf("nobody"))).index.manifests, []);
    assert.deepEqual((await referrers(digestOf("nobody"), "", "never/pushed")).index.manifests, []);
    assert.deepEqual((await referrers(subject.digest)).index.manifests, []);
  });

  it("lists referrers with mediaType, size, digest, artifactType and annotations", async () => {
    const annotations = { "org.opencontainers.conformance": "hello", "org.example.unique": "a1" };
    const sbom = await pushReferrer("sbom", { artifactType, annotations });
    // An image with a subject and no artifactType: listed with its config media type.
    const config = Buffer.from('{"signature":true}');
    await pushBlob(server, repo, config);
    const signed = await pushManifest(server, repo, "sig", { schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor("application/vnd.example.signature.config.v1+json", config), layers: [], subject: subjectDescriptor }, mt.ociManifest);
    assert.equal(signed.reply.header("oci-subject"), subject.digest);
    // An index with a subject and no artifactType: listed without one.
    const index = await pushManifest(server, repo, "idx", { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [], subject: subjectDescriptor, annotations: { "org.example.index": "yes" } }, mt.ociIndex);
    assert.equal(index.reply.header("oci-subject"), subject.digest);

    const { index: listed } = await referrers(subject.digest);
    const byDigest = new Map(listed.manifests.map((d) => [d.digest, d]));
    assert.equal(listed.manifests.length, 3);
    assert.deepEqual(byDigest.get(sbom.digest), { mediaType: mt.ociManifest, digest: sbom.digest, size: sbom.body.length, artifactType, annotations });
    assert.deepEqual(byDigest.get(signed.digest), { mediaType: mt.ociManifest, digest: signed.digest, size: signed.body.length, artifactType: "application/vnd.example.signature.config.v1+json" });
    assert.deepEqual(byDigest.get(index.digest), { mediaType: mt.ociIndex, digest: index.digest, size: index.body.length, annotations: { "org.example.index": "yes" } });
  });

  it("filters on artifactType and says so with OCI-Filters-Applied", async () => {
    await pushReferrer("other-type", { artifactType: "application/vnd.example.other.v1" });
    const { index, reply } = await referrers(subject.digest, `?artifactType=${encodeURIComponent(artifactType)}`);
    assert.equal(reply.header("oci-filters-applied"), "artifactType");
    assert.ok(index.manifests.length >= 1);
    for (const d of index.manifests) assert.equal(d.artifactType, artifactType);
    const none = await referrers(subject.digest, `?artifactType=${encodeURIComponent("application/vnd.example.none")}`);
    assert.equal(none.reply.header("oci-filters-applied"), "artifactType");
    assert.deepEqual(none.index.manifests, []);
    assert.equal((await referrers(subject.digest)).reply.header("oci-filters-applied"), undefined);
  });

  it("accepts a subject that is not (yet) in the repository, and lists its referrers", async () => {
    const missing = { mediaType: mt.ociManifest, size: 123, digest: digestOf("missing content") };
    const early = await pushReferrer("early", { artifactType, annotations: { early: "bird" } }, missing);
    const { index } = await referrers(missing.digest);
    assert.deepEqual(index.manifests.map((d) => d.digest), [early.digest]);
    // Pushing the subject afterwards does not disturb the listing.
    const late = await pushImage(server, repo, "late-subject");
    const lateDescriptor = descriptor(mt.ociManifest, late.body);
    const before = await pushReferrer("before-subject", { artifactType }, lateDescriptor);
    assert.deepEqual((await referrers(late.digest)).index.manifests.map((d) => d.digest), [before.digest]);
  });

  it("a deleted referrer disappears from the list; deleting its tag alone does not remove it", async () => {
    const gone = await pushReferrer("to-delete", { artifactType: "application/vnd.example.gone" });
    const filter = `?artifactType=${encodeURIComponent("application/vnd.example.gone")}`;
    assert.equal((await referrers(subject.digest, filter)).index.manifests.length, 1);
    assert.equal((await request(server, "DELETE", `/v2/${repo}/manifests/to-delete`)).status, 202);
    assert.equal((await referrers(subject.digest, filter)).index.manifests.length, 1, "untagging must not drop the referrer");
    assert.equal((await request(server, "DELETE", `/v2/${repo}/manifests/${gone.digest}`)).status, 202);
    assert.deepEqual((await referrers(subject.digest, filter)).index.manifests, []);
  });

  it("only lists referrers of the same repository", async () => {
    await pushBlob(server, "referrers/elsewhere", "{}");
    const body = { schemaVersion: 2, mediaType: mt.ociManifest, config: emptyConfig, layers: [], subject: subjectDescriptor, artifactType: "application/vnd.example.elsewhere" };
    await pushManifest(server, "referrers/elsewhere", "x", body, mt.ociManifest);
    const { index } = await referrers(subject.digest, `?artifactType=${encodeURIComponent("application/vnd.example.elsewhere")}`);
    assert.deepEqual(index.manifests, []);
    assert.equal((await referrers(subject.digest, "", "referrers/elsewhere")).index.manifests.length, 1);
  });

  it("accepts an index whose subject is an index, with a sha512 subject digest", async () => {
    const subjectIndex = await pushManifest(server, repo, "subject-index", { schemaVersion: 2, mediaType: mt.ociIndex, manifests: [subjectDescriptor] }, mt.ociIndex);
    const bodyText = JSON.stringify({ schemaVersion: 2, mediaType: mt.ociIndex, artifactType, manifests: [], subject: descriptor(mt.ociIndex, subjectIndex.body) });
    const referrer = await pushManifest(server, repo, "index-referrer", Buffer.from(bodyText), mt.ociIndex);
    assert.equal(referrer.reply.header("oci-subject"), subjectIndex.digest);
    assert.deepEqual((await referrers(subjectIndex.digest)).index.manifests, [{ mediaType: mt.ociIndex, digest: referrer.digest, size: referrer.body.length, artifactType }]);
    const sha512Subject = { mediaType: mt.ociManifest, size: 10, digest: digestOf("sha512 subject", "sha512") };
    const s512 = await pushReferrer("sha512-referrer", { artifactType }, sha512Subject);
    assert.deepEqual((await referrers(sha512Subject.digest)).index.manifests.map((d) => d.digest), [s512.digest]);
  });

  it("treats an empty artifactType as missing: the config media type for an image, nothing for an index", async () => {
    const target = await pushImage(server, repo, "empty-type-subject");
    const subjectOf = descriptor(mt.ociManifest, target.body);
    const config = Buffer.from('{"empty":"artifactType"}');
    await pushBlob(server, repo, config);
    const image = await pushManifest(server, repo, "empty-type-image", { schemaVersion: 2, mediaType: mt.ociManifest, artifactType: "", config: descriptor("application/vnd.example.config.v1+json", config), layers: [], subject: subjectOf }, mt.ociManifest);
    const index = await pushManifest(server, repo, "empty-type-index", { schemaVersion: 2, mediaType: mt.ociIndex, artifactType: "", manifests: [], subject: subjectOf }, mt.ociIndex);
    const listed = new Map((await referrers(target.digest)).index.manifests.map((d) => [d.digest, d]));
    assert.deepEqual(listed.get(image.digest), { mediaType: mt.ociManifest, digest: image.digest, size: image.body.length, artifactType: "application/vnd.example.config.v1+json" });
    assert.deepEqual(listed.get(index.digest), { mediaType: mt.ociIndex, digest: index.digest, size: index.body.length });
  });

  it("answers 400 for an invalid digest", async () => {
    for (const bad of ["sha256:nothex", "latest", "sha256:" + "0".repeat(10)]) {
      const reply = await request(server, "GET", `/v2/${repo}/referrers/${bad}`);
      expectError(reply, 400, "DIGEST_INVALID", bad);
    }
  });
});
