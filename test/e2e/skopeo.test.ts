/**
 * skopeo, an independent client, pushing to and pulling from lading: images built offline with
 * umoci, pulled back into fresh layouts and compared by manifest digest and unpacked contents.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { CommandError, requireTools } from "../helpers/exec.js";
import { archImage, assertImageContents, bigImage, multiLayer, singleLayer } from "../helpers/fixtures.js";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, readBlob, readImage, sha256, tagDescriptor, writeImageIndex, type Descriptor } from "../helpers/oci-layout.js";
import { type RunningRegistry, startLading } from "../helpers/registries.js";
import { getBlob, headManifest } from "../helpers/registry-http.js";
import { Scratch } from "../helpers/scratch.js";
import { withServerLogs } from "../helpers/server-process.js";
import { Skopeo } from "../helpers/skopeo.js";
import { buildImage, type ImageSpec, unpack } from "../helpers/umoci.js";

requireTools("skopeo", "umoci");

const specs: Record<string, ImageSpec> = {
  single: singleLayer,
  multi: multiLayer,
  amd64: archImage("amd64"),
  arm64: archImage("arm64"),
  big: bigImage(20),
};

describe("skopeo against lading", { timeout: 120_000 }, () => {
  let scratch: Scratch;
  let lading: RunningRegistry | undefined;
  let skopeo: Skopeo;
  let src: string;
  const built = new Map<string, Descriptor>();
  let seq = 0;

  before(async () => {
    scratch = await Scratch.create("e2e-skopeo");
    lading = await startLading(await scratch.dir("storage"));
    skopeo = await Skopeo.create(scratch);
    src = scratch.path("src");
    const work = await scratch.dir("work");
    for (const [tag, spec] of Object.entries(specs)) built.set(tag, await buildImage(src, tag, spec, work));
    built.set("multiarch", await writeImageIndex(src, "multiarch", [source("amd64"), source("arm64")]));
  });
  after(async () => {
    await lading?.stop();
    await scratch?.cleanup();
  });

  const test = (name: string, body: () => Promise<void>) => it(name, withServerLogs(() => [lading?.process], body));
  const ref = (repoAndTag: string) => `docker://${server().host}/${repoAndTag}`;
  function server(): RunningRegistry {
    if (lading === undefined) throw new Error("lading did not start");
    return lading;
  }
  function source(tag: string): Descriptor {
    const d = built.get(tag);
    if (d === undefined) throw new Error(`no test image ${tag}`);
    return d;
  }

  /** Pushes `oci:src:tag` and returns the digest skopeo reports writing. */
  async function push(tag: string, repoAndTag: string, extra: readonly string[] = []): Promise<string> {
    const digestFile = scratch.path(`digest-${seq++}`);
    await skopeo.copy(`oci:${src}:${tag}`, ref(repoAndTag), ["--digestfile", digestFile, ...extra]);
    return (await readFile(digestFile, "utf8")).trim();
  }

  /** Pulls into a new layout and returns its path; the image is tagged `pulled` there. */
  async function pull(from: string, extra: readonly string[] = []): Promise<string> {
    const layout = scratch.path(`pulled-${seq++}`);
    await skopeo.copy(from, `oci:${layout}:pulled`, extra);
    return layout;
  }

  async function assertRoundTrip(tag: string, repo: string): Promise<void> {
    const pushed = await push(tag, `${repo}:1`);
    assert.equal(pushed, source(tag).digest, "skopeo should push the layout's manifest unchanged");
    const served = await skopeo.rawManifest(ref(`${repo}:1`));
    assert.ok(served.equals(await readBlob(src, pushed)), "lading must serve the manifest bytes it was given");
    const head = await headManifest(server(), repo, "1");
    assert.deepEqual([head.status, head.digest, head.contentType, head.length], [200, pushed, OCI_MANIFEST, served.length]);

    const layout = await pull(ref(`${repo}:1`));
    const back = await readImage(layout, "pulled");
    assert.equal(back.manifestDigest, pushed);
    const original = await readImage(src, pushed);
    assert.deepEqual(back.config, original.config);
    await assertImageContents(await unpack(layout, "pulled", scratch.path(`bundle-${seq++}`)), specs[tag] ?? { layers: [] });
  }

  test("pushes a single-layer OCI image and seq back the same manifest and files", async () => {
    await assertRoundTrip("single", "e2e/single");
  });

  test("pushes a multi-layer image with changed and deleted files and seq it back", async () => {
    await assertRoundTrip("multi", "e2e/multi");
    assert.equal((await readImage(src, "multi")).manifest.layers.length, 3);
  });

  test("pushes as Docker schema 2 (--format v2s2) and seq it back", async () => {
    const pushed = await push("multi", "e2e/docker:v2s2", ["--format", "v2s2"]);
    const served = await skopeo.rawManifest(ref("e2e/docker:v2s2"));
    assert.equal(sha256(served), pushed, "the digest skopeo computed must be that of the bytes served");
    const manifest = JSON.parse(served.toString("utf8")) as { mediaType: string; layers: Descriptor[] };
    assert.equal(manifest.mediaType, DOCKER_MANIFEST);
    const head = await headManifest(server(), "e2e/docker", "v2s2");
    assert.deepEqual([head.digest, head.contentType], [pushed, DOCKER_MANIFEST]);

    // dir: keeps the manifest as served; oci: converts it back, so compare contents there.
    const dir = scratch.path(`dir-${seq++}`);
    await skopeo.copy(ref("e2e/docker:v2s2"), `dir:${dir}`);
    assert.equal(sha256(await readFile(`${dir}/manifest.json`)), pushed);
    const layout = await pull(ref("e2e/docker:v2s2"));
    const back = await readImage(layout, "pulled");
    assert.deepEqual(back.config.rootfs, (await readImage(src, "multi")).config.rootfs);
    await assertImageContents(await unpack(layout, "pulled", scratch.path(`bundle-${seq++}`)), multiLayer);
  });

  test("copies a multi-arch OCI index with --all and seq each platform by digest", async () => {
    const index = source("multiarch");
    const pushed = await push("multiarch", "e2e/multiarch:1", ["--all"]);
    assert.equal(pushed, index.digest);
    const served = await skopeo.rawManifest(ref("e2e/multiarch:1"));
    assert.ok(served.equals(await readBlob(src, index.digest)));
    assert.equal((await headManifest(server(), "e2e/multiarch", "1")).contentType, OCI_INDEX);

    const layout = await pull(ref("e2e/multiarch:1"), ["--all"]);
    assert.equal((await tagDescriptor(layout, "pulled")).digest, index.digest);
    for (const arch of ["amd64", "arm64"]) {
      const child = source(arch);
      const one = await pull(`docker://${server().host}/e2e/multiarch@${child.digest}`);
      const back = await readImage(one, "pulled");
      assert.equal(back.manifestDigest, child.digest);
      assert.equal(back.config.architecture, arch);
      await assertImageContents(await unpack(one, "pulled", scratch.path(`bundle-${seq++}`)), archImage(arch));
    }
    const native = process.arch === "arm64" ? "arm64" : "amd64";
    assert.equal((await skopeo.inspect(ref("e2e/multiarch:1"))).Architecture, native);
  });

  test("refuses Docker schema 1 (--format v2s1) with a message that says so", async () => {
    await assert.rejects(push("single", "e2e/schema1:1", ["--format", "v2s1"]), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.match(err.stderr, /manifest invalid.*schema 1/i);
      return true;
    });
    assert.equal((await headManifest(server(), "e2e/schema1", "1")).status, 404);
  });

  test("copies a Docker manifest list (--all --format v2s2)", async () => {
    const pushed = await push("multiarch", "e2e/manifest-list:1", ["--all", "--format", "v2s2"]);
    const served = await skopeo.rawManifest(ref("e2e/manifest-list:1"));
    assert.equal(sha256(served), pushed);
    const list = JSON.parse(served.toString("utf8")) as { mediaType: string; manifests: Descriptor[] };
    assert.equal(list.mediaType, DOCKER_MANIFEST_LIST);
    assert.deepEqual(list.manifests.map((m) => [m.mediaType, m.platform?.architecture]), [[DOCKER_MANIFEST, "amd64"], [DOCKER_MANIFEST, "arm64"]]);
    assert.equal((await headManifest(server(), "e2e/manifest-list", "1")).contentType, DOCKER_MANIFEST_LIST);
    await pull(ref("e2e/manifest-list:1"), ["--all"]);
    for (const child of list.manifests) {
      const one = await pull(`docker://${server().host}/e2e/manifest-list@${child.digest}`);
      const arch = child.platform?.architecture ?? "?";
      await assertImageContents(await unpack(one, "pulled", scratch.path(`bundle-${seq++}`)), archImage(arch));
    }
  });

  test("copies across repositories within lading, mounting the layers", async () => {
    const pushed = await push("multi", "e2e/mount-src:1");
    await skopeo.copy(ref("e2e/mount-src:1"), ref("e2e/mount-dst/nested:1"));
    assert.ok((await skopeo.rawManifest(ref("e2e/mount-dst/nested:1"))).equals(await readBlob(src, pushed)));
    const layout = await pull(ref("e2e/mount-dst/nested:1"));
    assert.equal((await readImage(layout, "pulled")).manifestDigest, pushed);
    // skopeo mounts blobs its cache saw in the source repository: POST ?mount= answered 201.
    const mounts = server()
      .process.logs()
      .split("\n")
      .filter((l) => l.includes('"method":"POST"') && l.includes("/v2/e2e/mount-dst/nested/blobs/uploads/") && l.includes('"status":201'));
    assert.ok(mounts.length >= 3, `expected the three layers to be mounted, saw ${mounts.length} mounts`);

    const index = await push("multiarch", "e2e/multiarch-src:1", ["--all"]);
    await skopeo.copy(ref("e2e/multiarch-src:1"), ref("e2e/multiarch-dst:1"), ["--all"]);
    assert.equal(sha256(await skopeo.rawManifest(ref("e2e/multiarch-dst:1"))), index);
  });

  test("lists tags in lexical order", async () => {
    for (const tag of ["latest", "2", "1", "1.0", "v1-rc"]) await skopeo.copy(`oci:${src}:single`, ref(`e2e/tags:${tag}`));
    assert.deepEqual(await skopeo.listTags(ref("e2e/tags")), ["1", "1.0", "2", "latest", "v1-rc"]);
  });

  test("moves a tag to another image; the old one stays reachable by digest", async () => {
    const first = await push("single", "e2e/moved:1");
    const second = await push("multi", "e2e/moved:1");
    assert.notEqual(first, second);
    assert.equal(sha256(await skopeo.rawManifest(ref("e2e/moved:1"))), second);
    await assertImageContents(await unpack(await pull(ref("e2e/moved:1")), "pulled", scratch.path(`bundle-${seq++}`)), multiLayer);
    assert.equal(sha256(await skopeo.rawManifest(`docker://${server().host}/e2e/moved@${first}`)), first);
    assert.equal(await push("multi", "e2e/moved:1"), second, "pushing the same image again changes nothing");
    assert.deepEqual(await skopeo.listTags(ref("e2e/moved")), ["1"]);
  });

  test("inspects an image: digest, tags, platform, layers, env", async () => {
    const pushed = await push("multi", "e2e/inspect:1.0");
    await push("multi", "e2e/inspect:latest");
    const info = await skopeo.inspect(ref("e2e/inspect:1.0"));
    assert.equal(info.Digest, pushed);
    assert.deepEqual([...info.RepoTags].sort(), ["1.0", "latest"]);
    assert.equal(info.Os, "linux");
    const image = await readImage(src, "multi");
    assert.equal(info.Architecture, image.config.architecture);
    assert.deepEqual(info.Layers, image.manifest.layers.map((l) => l.digest));
    assert.ok(info.Env?.includes("APP_MODE=multi"));
    const config = await skopeo.rawConfig(ref("e2e/inspect:1.0"));
    assert.equal(sha256(config), image.manifest.config.digest);
  });

  test("deletes a manifest: its tags go and pulling it fails", async () => {
    const pushed = await push("single", "e2e/delete:1");
    await push("multi", "e2e/delete:keep");
    await skopeo.delete(ref("e2e/delete:1"));
    await assert.rejects(pull(ref("e2e/delete:1")), (err: unknown) => err instanceof CommandError && /manifest unknown|not found/i.test(err.stderr));
    await assert.rejects(skopeo.rawManifest(`docker://${server().host}/e2e/delete@${pushed}`), CommandError);
    assert.equal((await headManifest(server(), "e2e/delete", pushed)).status, 404);
    assert.deepEqual(await skopeo.listTags(ref("e2e/delete")), ["keep"]);
    await pull(ref("e2e/delete:keep"));
  });

  test("streams a 20 MiB layer up and back", async () => {
    const image = await readImage(src, "big");
    const layer = image.manifest.layers[0];
    assert.ok(layer !== undefined && layer.size > 20 * 1024 * 1024, "the big layer should not compress");
    await assertRoundTrip("big", "e2e/big");
    const blob = await getBlob(server(), "e2e/big", layer.digest);
    assert.equal(blob.status, 200);
    assert.equal(blob.headers.get("content-length"), String(layer.size));
    assert.equal(blob.headers.get("docker-content-digest"), layer.digest);
    assert.equal(sha256(blob.body), layer.digest);
  });

  test("a client hanging up mid-download is not a server fault", async () => {
    const layer = (await readImage(src, "big")).manifest.layers[0];
    assert.ok(layer !== undefined);
    await push("big", "e2e/hangup:1");
    const before = server().process.logs().split("\n").length;
    const abort = new AbortController();
    const res = await fetch(`${server().url}/v2/e2e/hangup/blobs/${layer.digest}`, { signal: abort.signal });
    assert.equal(res.status, 200);
    const reader = res.body?.getReader();
    await reader?.read();
    abort.abort();
    await reader?.cancel().catch(() => {});
    // The request's log line comes once lading has seen the socket close.
    await server().process.waitForLine((l) => l.includes(`/v2/e2e/hangup/blobs/${layer.digest}`), 5000);
    await new Promise((r) => setTimeout(r, 200));
    const logged = server().process.logs().split("\n").slice(before - 1);
    const errors = logged.filter((l) => /"level":[56]\d\b/.test(l));
    assert.deepEqual(errors, [], "a download the client abandoned is logged as a server error");
    const again = await getBlob(server(), "e2e/hangup", layer.digest);
    assert.equal(sha256(again.body), layer.digest, "the blob is still served whole afterwards");
  });

  test("lading logged no server fault (5xx answer or error entry)", async () => {
    assert.deepEqual(server().process.faults, []);
  });
});
