/**
 * Replicas on one bucket: lading servers in this process, each with its own S3 driver, caches and
 * upload state, nothing shared but a fresh bucket of the run's Ceph gateway (../helpers/ceph.ts).
 * The rules of src/registry/coherence.ts seen through the HTTP API and through real clients: an
 * upload taken by whichever replica gets the request, skopeo and docker pushing through one and
 * pulling through another (blobs redirected to presigned URLs of the gateway), tags read through,
 * deletes seen within the documented bound. Then the bucket shared with Debian's docker-registry
 * (its s3 driver) in both directions.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { GetObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { sharedCatalogMs, sharedExistenceMs } from "../../src/registry/coherence.js";
import { digestOf, expectError, mt, pathOf, pushBlob, pushImage, pushManifest, request, s3StorageOverrides, sleep, startTestServer, withDigest, type TestServer } from "../api/support.js";
import { useCeph } from "../helpers/ceph.js";
import { DOCKER, useDockerEngine } from "../helpers/docker.js";
import { requireTools } from "../helpers/exec.js";
import { assertImageContents } from "../helpers/fixtures.js";
import { readImage } from "../helpers/oci-layout.js";
import { startDockerRegistryOnS3, type RegistryOnS3 } from "../helpers/registry-s3.js";
import { s3Client, uniqueBucketName } from "../helpers/s3.js";
import { Scratch } from "../helpers/scratch.js";
import { withServerLogs } from "../helpers/server-process.js";
import { Skopeo } from "../helpers/skopeo.js";
import { buildImage, unpack, type ImageSpec } from "../helpers/umoci.js";

requireTools("skopeo", "umoci", DOCKER, "dockerd", "busybox", "docker-registry");

// At the top level: a private daemon started here (no run-wide one) is stopped when the file ends.
const engine = await useDockerEngine();
// Registered before useCeph's own hook (hooks run in order): the bucket goes before a private gateway stops.
let removeBucket: (() => Promise<void>) | undefined;
after(() => removeBucket?.());
const s3 = await useCeph();
const bucket = uniqueBucketName("lading-replicas");
await s3.createBucket(bucket);
removeBucket = () => s3.deleteBucket(bucket);
const raw: S3Client = s3Client(s3);
after(() => raw.destroy());

const MiB = 1024 * 1024;
/** registry:2's storage.s3.rootdirectory: every server on the bucket, docker-registry included, must name the same. */
const ROOT = "/registry";
const KEY_PREFIX = "registry/docker/registry/v2";
/** What a replica may take beyond the documented bound to see another's delete: a request or two, on 2 busy cores. */
const SLACK_MS = 5_000;

/** An image with a layer of several S3 parts (multipart uploads, redirected downloads) and a small one. */
const appImage: ImageSpec = {
  layers: [{ "data/random.bin": randomBytes(6 * MiB) }, { "hello.txt": "hello from a replica\n" }],
  config: { env: ["REPLICAS=3"], entrypoint: ["/bin/sh"] },
};
const smallImage: ImageSpec = { layers: [{ "etc/motd": "small image\n" }], config: { env: ["SMALL=1"] } };

const sha256 = (bytes: Buffer) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function keysUnder(prefix: string): Promise<string[]> {
  const out = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? "?");
}

async function multipartUploadsUnder(prefix: string): Promise<string[]> {
  const out = await raw.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (out.Uploads ?? []).map((u) => u.Key ?? "?");
}

function blobKey(digest: string): string {
  const hex = digest.slice("sha256:".length);
  return `${KEY_PREFIX}/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`;
}

/** Polls `check` until it holds, for at most `ms`; returns how long it took. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(250);
  }
}

describe("three lading replicas, and a fourth that streams blobs, on one bucket", { timeout: 300_000 }, () => {
  let scratch: Scratch;
  let skopeo: Skopeo;
  let src: string;
  /** Replicas as configured by default: blob GETs redirect to presigned URLs of the gateway. */
  let a: TestServer;
  let b: TestServer;
  let c: TestServer;
  /** A fourth, with storage.redirect.disable: true: blobs stream through lading. */
  let d: TestServer;
  let seq = 0;
  const started: TestServer[] = [];

  before(async () => {
    scratch = await Scratch.create("e2e-replicas");
    skopeo = await Skopeo.create(scratch);
    src = scratch.path("src");
    const work = await scratch.dir("work");
    await buildImage(src, "app", appImage, work);
    await buildImage(src, "small", smallImage, work);
    const storage = s3StorageOverrides(s3, bucket, ROOT);
    for (const overrides of [storage, storage, storage, { ...storage, "storage.redirect.disable": true }]) started.push(await startTestServer(overrides));
    [a, b, c, d] = started as [TestServer, TestServer, TestServer, TestServer];
  });
  after(async () => {
    for (const server of started) await server.close();
    await scratch?.cleanup();
  });

  const host = (server: TestServer) => `127.0.0.1:${server.port}`;

  /** skopeo pushes `oci:src:tag` as `ref` through `to`; returns the manifest digest it wrote. */
  async function skopeoPush(tag: string, to: string, ref: string): Promise<string> {
    const digestFile = scratch.path(`digest-${seq++}`);
    await skopeo.copy(`oci:${src}:${tag}`, `docker://${to}/${ref}`, ["--digestfile", digestFile]);
    return (await readFile(digestFile, "utf8")).trim();
  }

  /** skopeo pulls `ref` through `from` into a new layout, checks the manifest digest and unpacks it against `spec`. */
  async function skopeoPullAndCheck(from: string, ref: string, digest: string, spec: ImageSpec): Promise<void> {
    const layout = scratch.path(`pulled-${seq++}`);
    await skopeo.copy(`docker://${from}/${ref}`, `oci:${layout}:pulled`);
    assert.equal((await readImage(layout, "pulled")).manifestDigest, digest, `${ref} through ${from}`);
    await assertImageContents(await unpack(layout, "pulled", scratch.path(`bundle-${seq++}`)), spec);
  }

  /** The manifest digest and bytes a replica serves for repo:reference (any image type). */
  async function served(server: TestServer, repo: string, reference: string): Promise<{ digest: string | undefined; body: Buffer }> {
    const reply = await request(server, "GET", `/v2/${repo}/manifests/${reference}`, { headers: { Accept: [mt.ociManifest, mt.ociIndex, mt.dockerManifest, mt.dockerList].join(", ") } });
    assert.equal(reply.status, 200, `GET ${repo}:${reference} on port ${server.port}: ${reply.text()}`);
    return { digest: reply.header("docker-content-digest"), body: reply.body };
  }

  async function tagsOf(server: TestServer, repo: string): Promise<string[]> {
    const reply = await request(server, "GET", `/v2/${repo}/tags/list`);
    assert.equal(reply.status, 200, reply.text());
    return reply.json<{ tags: string[] }>().tags;
  }

  it("takes an upload whose POST, PATCHes and PUT go to different replicas, from the hash state each saves", async () => {
    const repo = "replicas/upload";
    const data = randomBytes(14 * MiB + 321);
    const digest = digestOf(data);
    // POST → A, PATCH → B, PATCH → C, PUT with the last chunk → A. Each chunk spans S3 parts, so
    // every replica continues a multipart upload that another one started.
    const cuts = [0, 6 * MiB, 11 * MiB + 7, data.length];
    const posted = await request(a, "POST", `/v2/${repo}/blobs/uploads/`);
    assert.equal(posted.status, 202, posted.text());
    let location = posted.header("location")!;
    const id = /\/blobs\/uploads\/([^/?]+)/.exec(location)?.[1];
    assert.ok(id !== undefined, `no session id in ${location}`);
    const hashStates = `${KEY_PREFIX}/repositories/${repo}/_uploads/${id}/lading-hashstates/sha256/`;
    for (const [i, server] of [b, c].entries()) {
      const [from, to] = [cuts[i]!, cuts[i + 1]!];
      const patched = await request(server, "PATCH", location, { body: data.subarray(from, to), headers: { "Content-Range": `${from}-${to - 1}`, "Content-Type": "application/octet-stream" } });
      assert.equal(patched.status, 202, patched.text());
      assert.equal(patched.header("range"), `0-${to - 1}`);
      location = patched.header("location")!;
      // The replica left its hash state at the new offset, for the next one to go on from.
      assert.ok((await keysUnder(hashStates)).includes(`${hashStates}${to}`), `no saved hash state at ${to}`);
    }
    // Any replica reports the session's progress.
    const status = await request(d, "GET", location);
    assert.equal(status.status, 204, status.text());
    assert.equal(status.header("range"), `0-${cuts[2]! - 1}`);

    const put = await request(a, "PUT", withDigest(location, digest), { body: data.subarray(cuts[2]), headers: { "Content-Type": "application/octet-stream" } });
    assert.equal(put.status, 201, put.text());
    assert.equal(put.header("docker-content-digest"), digest);
    for (const server of [a, b, c, d]) {
      const head = await request(server, "HEAD", `/v2/${repo}/blobs/${digest}`);
      assert.deepEqual([head.status, head.header("content-length")], [200, String(data.length)], `HEAD on port ${server.port}`);
    }
    // Pulled from a fourth replica (streamed through it), and read from the bucket at registry:2's key.
    const pulled = await request(d, "GET", pathOf(put.header("location")!));
    assert.equal(pulled.status, 200);
    assert.equal(digestOf(pulled.body), digest);
    const object = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: blobKey(digest) }));
    assert.equal(sha256(Buffer.from(await object.Body!.transformToByteArray())), digest);
    // Nothing of the session is left: no key, no unfinished multipart upload.
    assert.deepEqual(await keysUnder(`${KEY_PREFIX}/repositories/${repo}/_uploads/`), []);
    assert.deepEqual(await multipartUploadsUnder(`${KEY_PREFIX}/`), []);
  });

  it("answers for a session no byte has reached on another replica than its POST's: its status, an empty blob", async () => {
    const repo = "replicas/empty";
    const empty = Buffer.alloc(0);
    const posted = await request(a, "POST", `/v2/${repo}/blobs/uploads/`);
    assert.equal(posted.status, 202, posted.text());
    const location = posted.header("location")!;
    const status = await request(b, "GET", location);
    assert.deepEqual([status.status, status.header("range")], [204, "0-0"]);
    const put = await request(c, "PUT", withDigest(location, digestOf(empty)));
    assert.equal(put.status, 201, put.text());
    const got = await request(d, "GET", `/v2/${repo}/blobs/${digestOf(empty)}`);
    assert.deepEqual([got.status, got.body.length], [200, 0]);
    assert.deepEqual(await keysUnder(`${KEY_PREFIX}/repositories/${repo}/_uploads/`), []);
  });

  it("ends from another replica an upload one replica wrote parts of: a cancel, a wrong digest; nothing is left", async () => {
    const repo = "replicas/abandoned";
    const data = randomBytes(6 * MiB);
    const patched = async (server: TestServer): Promise<string> => {
      const posted = await request(a, "POST", `/v2/${repo}/blobs/uploads/`);
      assert.equal(posted.status, 202, posted.text());
      const reply = await request(server, "PATCH", posted.header("location")!, { body: data, headers: { "Content-Range": `0-${data.length - 1}` } });
      assert.equal(reply.status, 202, reply.text());
      return reply.header("location")!;
    };
    const cancelled = await patched(b);
    assert.equal((await request(c, "DELETE", cancelled)).status, 204);
    expectError(await request(a, "PATCH", cancelled, { body: data.subarray(0, 10) }), 404, "BLOB_UPLOAD_UNKNOWN");
    const wrong = await patched(b);
    expectError(await request(c, "PUT", withDigest(wrong, digestOf("something else"))), 400, "DIGEST_INVALID");
    expectError(await request(d, "GET", wrong), 404, "BLOB_UPLOAD_UNKNOWN");
    expectError(await request(d, "HEAD", `/v2/${repo}/blobs/${digestOf(data)}`), 404, "BLOB_UNKNOWN");
    assert.deepEqual(await keysUnder(`${KEY_PREFIX}/repositories/${repo}/_uploads/`), []);
    assert.deepEqual(await multipartUploadsUnder(`${KEY_PREFIX}/`), []);
  });

  it("redirects blob GETs to a presigned URL that fetch follows, and streams them with redirect.disable", async () => {
    const repo = "replicas/redirect";
    const big = randomBytes(MiB + 17);
    const small = randomBytes(1000);
    const bigDigest = await pushBlob(b, repo, big);
    const smallDigest = await pushBlob(b, repo, small);

    const redirected = await request(a, "GET", `/v2/${repo}/blobs/${bigDigest}`);
    assert.equal(redirected.status, 307, redirected.text());
    assert.equal(redirected.header("docker-content-digest"), bigDigest);
    const location = redirected.header("location") ?? "";
    assert.ok(location.startsWith(`${s3.endpoint}/${bucket}/${blobKey(bigDigest)}?`), `Location ${location}`);
    assert.match(location, /X-Amz-Signature=/);
    // Followed as a client does: straight from the gateway, the whole blob or a range of it.
    const whole = await fetch(location);
    assert.equal(whole.status, 200);
    assert.equal(sha256(Buffer.from(await whole.arrayBuffer())), bigDigest);
    const part = await fetch(location, { headers: { Range: "bytes=100-199" } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(big.subarray(100, 200)));
    // fetch follows the 307 by itself.
    const followed = await fetch(`${a.url}/v2/${repo}/blobs/${bigDigest}`);
    assert.equal(followed.status, 200);
    assert.equal(sha256(Buffer.from(await followed.arrayBuffer())), bigDigest);

    // HEAD, small blobs (kept in memory) and unknown blobs are answered by lading itself.
    const head = await request(a, "HEAD", `/v2/${repo}/blobs/${bigDigest}`);
    assert.deepEqual([head.status, head.header("content-length")], [200, String(big.length)]);
    const smallGet = await request(a, "GET", `/v2/${repo}/blobs/${smallDigest}`);
    assert.equal(smallGet.status, 200);
    assert.ok(smallGet.body.equals(small));
    expectError(await request(a, "GET", `/v2/${repo}/blobs/${digestOf("never pushed")}`), 404, "BLOB_UNKNOWN");

    // storage.redirect.disable: true: the bytes come through lading, ranges too.
    const streamed = await request(d, "GET", `/v2/${repo}/blobs/${bigDigest}`);
    assert.equal(streamed.status, 200);
    assert.equal(streamed.header("location"), undefined);
    assert.equal(digestOf(streamed.body), bigDigest);
    const ranged = await request(d, "GET", `/v2/${repo}/blobs/${bigDigest}`, { headers: { Range: "bytes=1048576-" } });
    assert.equal(ranged.status, 206);
    assert.ok(ranged.body.equals(big.subarray(MiB)));
  });

  it("skopeo pushes through one replica and pulls through another", async () => {
    const digest = await skopeoPush("app", host(a), "skopeo/app:v1");
    assert.equal((await served(c, "skopeo/app", "v1")).digest, digest);
    // The 6 MiB layer comes from the gateway (307), the rest from B.
    await skopeoPullAndCheck(host(b), "skopeo/app:v1", digest, appImage);
    assert.equal((await skopeo.inspect(`docker://${host(c)}/skopeo/app:v1`)).Digest, digest);
  });

  it("docker pushes through one replica and pulls through another, following the redirects to the gateway", async () => {
    const config = await scratch.dir("docker-config");
    const pushedRef = `${host(a)}/docker/busybox:v1`;
    const pulledRef = `${host(c)}/docker/busybox:v1`;
    await engine.importBusybox(pushedRef);
    const pushLog = (await engine.dockerOk(["push", pushedRef], { config })).stdout;
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushLog)?.[1];
    assert.ok(digest !== undefined, `no digest in docker push output:\n${pushLog}`);
    // Without the image the pull fetches every layer: through C, which redirects the layer to the gateway.
    await engine.dockerOk(["rmi", pushedRef], { config });
    const layer = JSON.parse((await served(c, "docker/busybox", "v1")).body.toString("utf8")) as { layers: { digest: string; size: number }[] };
    assert.ok(layer.layers.some((l) => l.size > 64 * 1024), "the busybox layer is small enough to be served without a redirect");
    assert.equal((await request(c, "GET", `/v2/docker/busybox/blobs/${layer.layers[0]!.digest}`)).status, 307);
    const pullLog = (await engine.dockerOk(["pull", pulledRef], { config })).stdout;
    assert.match(pullLog, /Pull complete/, `docker fetched no layer:\n${pullLog}`);
    assert.doesNotMatch(pullLog, /Already exists/, `docker kept a layer:\n${pullLog}`);
    const { stdout: repoDigests } = await engine.dockerOk(["image", "inspect", "--format", "{{json .RepoDigests}}", pulledRef], { config });
    assert.deepEqual(JSON.parse(repoDigests), [`${host(c)}/docker/busybox@${digest}`]);
    const ran = await engine.dockerOk(["run", "--rm", "--network", "none", pulledRef, "echo", "pulled through another replica"], { config });
    assert.equal(ran.stdout.trim(), "pulled through another replica");
  });

  it("serves a tag moved through one replica from the others on the very next request", async () => {
    const repo = "replicas/moving";
    const first = await pushImage(a, repo, "latest");
    for (const server of [b, c]) {
      assert.equal((await served(server, repo, "latest")).digest, first.digest);
      assert.deepEqual(await tagsOf(server, repo), ["latest"]);
    }
    const second = await pushImage(a, repo, "latest");
    for (const server of [b, c]) {
      const now = await served(server, repo, "latest");
      assert.equal(now.digest, second.digest, `port ${server.port} still serves the old tag`);
      assert.ok(now.body.equals(second.body));
      assert.equal((await request(server, "HEAD", `/v2/${repo}/manifests/latest`, { headers: { Accept: mt.ociManifest } })).header("docker-content-digest"), second.digest);
    }
    await pushManifest(a, repo, "v2", second.body, mt.ociManifest);
    for (const server of [b, c]) assert.deepEqual(await tagsOf(server, repo), ["latest", "v2"]);
    assert.equal((await request(a, "DELETE", `/v2/${repo}/manifests/v2`)).status, 202);
    for (const server of [b, c]) {
      assert.deepEqual(await tagsOf(server, repo), ["latest"]);
      expectError(await request(server, "GET", `/v2/${repo}/manifests/v2`), 404, "MANIFEST_UNKNOWN");
    }
  });

  it(`sees a delete through one replica from the others within ${sharedExistenceMs / 1000} s`, async () => {
    const repo = "replicas/deleted";
    const image = await pushImage(a, repo, "gone");
    const layer = image.layers[0]!.digest;
    // The others believe the manifest and the layer link exist (and may keep believing it for the bound).
    for (const server of [b, c]) {
      assert.equal((await request(server, "GET", `/v2/${repo}/manifests/${image.digest}`)).status, 200);
      assert.equal((await request(server, "HEAD", `/v2/${repo}/blobs/${layer}`)).status, 200);
    }
    assert.equal((await request(a, "DELETE", `/v2/${repo}/manifests/${image.digest}`)).status, 202);
    assert.equal((await request(a, "DELETE", `/v2/${repo}/blobs/${layer}`)).status, 202);
    // The replica that deleted knows at once; a tag is read through everywhere.
    expectError(await request(a, "GET", `/v2/${repo}/manifests/${image.digest}`), 404, "MANIFEST_UNKNOWN");
    expectError(await request(a, "GET", `/v2/${repo}/blobs/${layer}`), 404, "BLOB_UNKNOWN");
    for (const server of [b, c]) expectError(await request(server, "GET", `/v2/${repo}/manifests/gone`), 404, "MANIFEST_UNKNOWN");
    await Promise.all(
      [b, c].map((server) =>
        within(sharedExistenceMs + SLACK_MS, `the delete seen through port ${server.port}`, async () => {
          const manifest = await request(server, "GET", `/v2/${repo}/manifests/${image.digest}`);
          const blob = await request(server, "HEAD", `/v2/${repo}/blobs/${layer}`);
          return manifest.status === 404 && blob.status === 404;
        }),
      ),
    );
  });

  it("stores again what is pushed through a replica that still believes in what another deleted", async () => {
    const repo = "replicas/repushed";
    const image = await pushImage(a, repo, "v1");
    const blobs = [image.config.digest, image.layers[0]!.digest];
    const bytes = await Promise.all(blobs.map(async (blob) => (await request(d, "GET", `/v2/${repo}/blobs/${blob}`)).body));
    // B learns that the manifest and both blobs are in the repository...
    assert.equal((await request(b, "GET", `/v2/${repo}/manifests/${image.digest}`)).status, 200);
    for (const blob of blobs) assert.equal((await request(b, "HEAD", `/v2/${repo}/blobs/${blob}`)).status, 200);
    // ...A deletes them, and the same image is pushed again through B at once (well within the bound).
    assert.equal((await request(a, "DELETE", `/v2/${repo}/manifests/${image.digest}`)).status, 202);
    for (const blob of blobs) assert.equal((await request(a, "DELETE", `/v2/${repo}/blobs/${blob}`)).status, 202);
    for (const [i, blob] of blobs.entries()) assert.equal(await pushBlob(b, repo, bytes[i]!), blob);
    await pushManifest(b, repo, "v1", image.body, mt.ociManifest);
    // C, which never saw any of it, finds every part in the store.
    assert.equal((await served(c, repo, "v1")).digest, image.digest);
    assert.equal((await served(c, repo, image.digest)).digest, image.digest);
    for (const blob of blobs) assert.equal((await request(c, "HEAD", `/v2/${repo}/blobs/${blob}`)).status, 200, `blob ${blob} through C`);
  });

  describe("the bucket shared with docker-registry's s3 driver", () => {
    let reference: RegistryOnS3 | undefined;
    before(async () => {
      reference = await startDockerRegistryOnS3(s3, bucket, await scratch.dir("docker-registry"), { rootDirectory: ROOT });
    });
    after(() => reference?.stop());
    const test = (name: string, body: () => Promise<void>) => it(name, withServerLogs(() => [reference?.process], body));
    function registry(): RegistryOnS3 {
      if (reference === undefined) throw new Error("docker-registry did not start");
      return reference;
    }

    test("lading serves what skopeo pushed through docker-registry: manifests, blobs, tags, catalog", async () => {
      const v1 = await skopeoPush("app", registry().host, "interop/from-reference:v1");
      const v2 = await skopeoPush("small", registry().host, "interop/from-reference:v2");
      await skopeoPullAndCheck(host(b), "interop/from-reference:v1", v1, appImage);
      await skopeoPullAndCheck(host(d), "interop/from-reference:v2", v2, smallImage);
      for (const server of [a, c]) {
        assert.deepEqual(await tagsOf(server, "interop/from-reference"), ["v1", "v2"]);
        assert.equal((await served(server, "interop/from-reference", "v1")).digest, v1);
      }
      // A replica's walked catalog is believed for a while: one that walked before the push sees it within that.
      await within(sharedCatalogMs + SLACK_MS, "the repository in lading's catalog", async () => {
        const reply = await request(c, "GET", "/v2/_catalog?n=1000");
        return reply.json<{ repositories: string[] }>().repositories.includes("interop/from-reference");
      });
    });

    test("docker-registry serves what skopeo pushed through lading", async () => {
      const v1 = await skopeoPush("app", host(a), "interop/from-lading:v1");
      const v2 = await skopeoPush("small", host(c), "interop/from-lading:v2");
      await skopeoPullAndCheck(registry().host, "interop/from-lading:v1", v1, appImage);
      await skopeoPullAndCheck(registry().host, "interop/from-lading:v2", v2, smallImage);
      const listed = (await (await fetch(`${registry().url}/v2/interop/from-lading/tags/list`)).json()) as { tags: string[] };
      // docker-registry does not sort its tag lists.
      assert.deepEqual([...listed.tags].sort(), ["v1", "v2"]);
      const head = await fetch(`${registry().url}/v2/interop/from-lading/manifests/v1`, { method: "HEAD", headers: { Accept: mt.ociManifest } });
      assert.deepEqual([head.status, head.headers.get("docker-content-digest")], [200, v1]);
    });
  });
});
