/**
 * podman pulling from and pushing to lading (as root, storage private to the test): images
 * pushed by skopeo are pulled and checked by digest, layers and files; podman's pushes, in each
 * manifest format, are pulled back by skopeo and unpacked by umoci; and a container runs from an
 * image pulled from lading.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { requireTools } from "../helpers/exec.js";
import { archImage, assertFiles, assertImageContents, busyboxImage, multiLayer, singleLayer } from "../helpers/fixtures.js";
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, readImage, sha256, writeImageIndex, type Descriptor } from "../helpers/oci-layout.js";
import { Podman } from "../helpers/podman.js";
import { type RunningRegistry, startLading } from "../helpers/registries.js";
import { headManifest } from "../helpers/registry-http.js";
import { Scratch } from "../helpers/scratch.js";
import { withServerLogs } from "../helpers/server-process.js";
import { Skopeo } from "../helpers/skopeo.js";
import { buildImage, type ImageSpec, unpack } from "../helpers/umoci.js";

requireTools("podman", "skopeo", "umoci", "runc", "busybox");

const specs: Record<string, ImageSpec> = {
  single: singleLayer,
  multi: multiLayer,
  amd64: archImage("amd64"),
  arm64: archImage("arm64"),
  busybox: busyboxImage(),
};
const NATIVE_ARCH = process.arch === "arm64" ? "arm64" : "amd64";

describe("podman against lading", { timeout: 120_000 }, () => {
  let scratch: Scratch;
  let lading: RunningRegistry | undefined;
  let skopeo: Skopeo;
  let podman: Podman;
  let src: string;
  const built = new Map<string, Descriptor>();
  let n = 0;

  before(async () => {
    scratch = await Scratch.create("e2e-podman");
    lading = await startLading(await scratch.dir("storage"));
    skopeo = await Skopeo.create(scratch);
    podman = await Podman.create(scratch);
    src = scratch.path("src");
    const work = await scratch.dir("work");
    for (const [tag, spec] of Object.entries(specs)) built.set(tag, await buildImage(src, tag, spec, work));
    const platforms = ["amd64", "arm64"].map((arch) => built.get(arch)).filter((d): d is Descriptor => d !== undefined);
    built.set("multiarch", await writeImageIndex(src, "multiarch", platforms));
  });
  after(async () => {
    await lading?.stop();
    await scratch?.cleanup();
  });

  const test = (name: string, body: () => Promise<void>) => it(name, withServerLogs(() => [lading?.process], body));
  function host(): string {
    if (lading === undefined) throw new Error("lading did not start");
    return lading.host;
  }
  function digestOf(tag: string): string {
    const d = built.get(tag);
    if (d === undefined) throw new Error(`no test image ${tag}`);
    return d.digest;
  }
  /** Pushes a test image with skopeo; returns the reference podman uses (no transport prefix). */
  async function seed(tag: string, repoAndTag: string, extra: readonly string[] = []): Promise<string> {
    await skopeo.copy(`oci:${src}:${tag}`, `docker://${host()}/${repoAndTag}`, extra);
    return `${host()}/${repoAndTag}`;
  }
  async function assertPodmanImage(ref: string, spec: ImageSpec): Promise<void> {
    const rootfs = await podman.mount(ref);
    try {
      await assertFiles(rootfs, spec);
    } finally {
      await podman.unmount(ref);
    }
    const info = await podman.inspect(ref);
    for (const env of spec.config?.env ?? []) assert.ok(info.Config.Env?.includes(env), `env ${env} in ${JSON.stringify(info.Config.Env)}`);
  }

  test("pulls single- and multi-layer OCI images: same digest, layers and files", async () => {
    for (const tag of ["single", "multi"] as const) {
      const ref = await seed(tag, `e2e/pull-${tag}:1`);
      const id = await podman.pull(ref);
      const original = await readImage(src, tag);
      assert.equal(`sha256:${id}`, original.manifest.config.digest, "podman's image ID is the config digest");
      const info = await podman.inspect(ref);
      assert.equal(info.Digest, digestOf(tag));
      assert.ok(info.RepoDigests.includes(`${host()}/e2e/pull-${tag}@${digestOf(tag)}`), JSON.stringify(info.RepoDigests));
      assert.deepEqual(info.RootFS.Layers, original.config.rootfs.diff_ids);
      await assertPodmanImage(ref, specs[tag] ?? { layers: [] });
    }
  });

  test("pulls a Docker schema 2 image", async () => {
    const ref = await seed("multi", "e2e/pull-docker:1", ["--format", "v2s2"]);
    await podman.pull(ref);
    const head = await headManifest(lading as RunningRegistry, "e2e/pull-docker", "1");
    assert.equal(head.contentType, DOCKER_MANIFEST);
    // Same config as the OCI pull above, so the same image: podman adds this manifest's digest to it.
    const info = await podman.inspect(ref);
    assert.ok(info.RepoDigests.includes(`${host()}/e2e/pull-docker@${head.digest ?? "?"}`), JSON.stringify(info.RepoDigests));
    await assertPodmanImage(ref, multiLayer);
  });

  test("pulls a multi-arch index, choosing the native platform", async () => {
    const ref = await seed("multiarch", "e2e/pull-multiarch:1", ["--all"]);
    await podman.pull(ref);
    const info = await podman.inspect(ref);
    assert.equal(info.Architecture, NATIVE_ARCH);
    assert.ok(info.RepoDigests.some((d) => d.endsWith(`@${digestOf(NATIVE_ARCH)}`)), JSON.stringify(info.RepoDigests));
    await assertPodmanImage(ref, archImage(NATIVE_ARCH));
  });

  test("pushes in its default format, as OCI and as Docker schema 2; skopeo and umoci read each back", async () => {
    const local = await seed("multi", "e2e/push-source:1");
    await podman.pull(local);
    const original = await readImage(src, "multi");
    for (const [format, mediaType] of [[undefined, OCI_MANIFEST], ["oci", OCI_MANIFEST], ["v2s2", DOCKER_MANIFEST]] as const) {
      const repo = `e2e/podman-pushed-${format ?? "default"}`;
      const pushed = await podman.push(local, `${host()}/${repo}:1`, format === undefined ? [] : ["--format", format]);
      const served = await skopeo.rawManifest(`docker://${host()}/${repo}:1`);
      assert.equal(sha256(served), pushed, `${format ?? "default"}: served bytes hash to the digest podman wrote`);
      assert.equal((JSON.parse(served.toString("utf8")) as { mediaType?: string }).mediaType ?? OCI_MANIFEST, mediaType);

      const layout = scratch.path(`pulled-${n++}`);
      await skopeo.copy(`docker://${host()}/${repo}:1`, `oci:${layout}:pulled`);
      const back = await readImage(layout, "pulled");
      assert.deepEqual(back.config.rootfs.diff_ids, original.config.rootfs.diff_ids);
      await assertImageContents(await unpack(layout, "pulled", scratch.path(`bundle-${n++}`)), multiLayer);
    }
  });

  test("pushes lists made with podman manifest, as a Docker manifest list and as an OCI index", async () => {
    await seed("multiarch", "e2e/list-source:1", ["--all"]);
    const refs = ["amd64", "arm64"].map((arch) => `docker://${host()}/e2e/list-source@${digestOf(arch)}`);
    for (const [format, mediaType] of [["v2s2", DOCKER_MANIFEST_LIST], ["oci", OCI_INDEX]] as const) {
      const name = `localhost/e2e/list-${format}`;
      const repo = `e2e/podman-list-${format}`;
      await podman.createManifestList(name, refs);
      const pushed = await podman.pushManifestList(name, `docker://${host()}/${repo}:1`, ["--format", format]);
      const served = await skopeo.rawManifest(`docker://${host()}/${repo}:1`);
      assert.equal(sha256(served), pushed, `${format}: served bytes hash to the digest podman wrote`);
      const list = JSON.parse(served.toString("utf8")) as { mediaType: string; manifests: Descriptor[] };
      assert.equal(list.mediaType, mediaType);
      assert.deepEqual(list.manifests.map((m) => m.platform?.architecture).sort(), ["amd64", "arm64"]);
      for (const child of list.manifests) {
        const layout = scratch.path(`pulled-${n++}`);
        await skopeo.copy(`docker://${host()}/${repo}@${child.digest}`, `oci:${layout}:pulled`);
        const arch = child.platform?.architecture ?? "?";
        await assertImageContents(await unpack(layout, "pulled", scratch.path(`bundle-${n++}`)), archImage(arch));
      }
    }
  });

  test("round trip through podman alone: tag, push, remove, pull", async () => {
    const seeded = await seed("single", "e2e/roundtrip-source:1");
    const id = await podman.pull(seeded);
    const target = `${host()}/e2e/podman/roundtrip:v1`;
    await podman.tag(seeded, target);
    const pushed = await podman.push(target, target);
    await podman.removeImage(target);
    await podman.removeImage(seeded);
    assert.equal(await podman.pull(target), id);
    assert.ok((await podman.inspect(target)).RepoDigests.includes(`${host()}/e2e/podman/roundtrip@${pushed}`));
    await assertPodmanImage(target, singleLayer);
  });

  test("runs a container from an image pulled from lading", async () => {
    const ref = await seed("busybox", "e2e/busybox:1");
    await podman.pull(ref);
    assert.equal(await podman.runContainer(ref), "hello from a container\n");
    assert.equal(await podman.runContainer(ref, ["echo", "argv", "works"]), "argv works\n");
  });

  test("lading logged no server fault (5xx answer or error entry)", async () => {
    assert.deepEqual(lading?.process.faults, []);
  });
});
