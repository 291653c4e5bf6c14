/**
 * The real engines against lading (anonymous, in-process): the Docker engine builds with both of
 * its builders, pushes, pulls back and runs; containerd's ctr pulls what docker pushed and pushes
 * it elsewhere; buildah builds on it and pushes, and docker runs the result. Every image starts
 * from a busybox root filesystem imported into docker: nothing comes from the internet.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../api/support.js";
import { Buildah } from "../helpers/buildah.js";
import { useContainerd } from "../helpers/containerd.js";
import { DOCKER, useDockerEngine } from "../helpers/docker.js";
import { requireTools } from "../helpers/exec.js";
import { Scratch } from "../helpers/scratch.js";

requireTools(DOCKER, "dockerd", "containerd", "ctr", "buildah", "busybox");

// At the top level: a private daemon started here (no run-wide one) is stopped when the file ends.
const engine = await useDockerEngine();
const containerd = await useContainerd();

const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

describe("docker, containerd and buildah against lading", { timeout: 180_000 }, () => {
  let scratch: Scratch;
  let server: TestServer | undefined;
  let buildah: Buildah;
  /** DOCKER_CONFIG for every docker command here: the registry is anonymous, nobody logs in. */
  let config: string;
  /** busybox, pushed by docker: what every other image here is built from. */
  let base: string;

  before(async () => {
    scratch = await Scratch.create("e2e-engines");
    server = await startTestServer();
    buildah = await Buildah.create(scratch);
    config = await scratch.dir("docker-config");
    base = `${host()}/busybox:base`;
    await engine.importBusybox(base);
    await engine.dockerOk(["push", base], { config });
  });
  after(async () => {
    await server?.close();
    await scratch?.cleanup();
  });

  function host(): string {
    if (server === undefined) throw new Error("lading did not start");
    return `127.0.0.1:${server.port}`;
  }

  /** The digest lading serves for repo:reference. */
  async function servedDigest(repo: string, reference: string): Promise<string | null> {
    const res = await fetch(`http://${host()}/v2/${repo}/manifests/${reference}`, { method: "HEAD", headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(res.status, 200, `HEAD ${repo}:${reference}`);
    return res.headers.get("docker-content-digest");
  }

  /**
   * Removes the images that are there. The legacy builder pulls a missing FROM image into the
   * image store, BuildKit only into its own cache: whether `base` is there depends on the order.
   */
  async function removeImages(...refs: string[]): Promise<void> {
    for (const ref of refs) {
      if ((await engine.docker(["image", "inspect", ref], { config })).code === 0) await engine.dockerOk(["rmi", ref], { config });
      assert.notEqual((await engine.docker(["image", "inspect", ref], { config })).code, 0, `${ref} is gone`);
    }
  }

  for (const builder of ["legacy", "buildkit"] as const) {
    it(`docker builds with the ${builder} builder, pushes, pulls back and runs`, async () => {
      const context = await scratch.dir(`context-${builder}`);
      await writeFile(join(context, "Dockerfile"), `FROM ${base}\nRUN echo built by ${builder} > /built.txt\nCMD ["cat", "/built.txt"]\n`);
      const ref = `${host()}/docker/${builder}:1`;
      await engine.build(context, ref, { builder });

      const { stdout: pushLog } = await engine.dockerOk(["push", ref], { config });
      const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(pushLog)?.[1];
      assert.ok(pushed !== undefined, `no digest in docker push output:\n${pushLog}`);
      assert.equal(await servedDigest(`docker/${builder}`, "1"), pushed);

      // Without the image or its base, the pull fetches every layer from lading.
      await removeImages(ref, base);
      await engine.dockerOk(["pull", ref], { config });
      const { stdout: repoDigests } = await engine.dockerOk(["image", "inspect", "--format", "{{json .RepoDigests}}", ref], { config });
      assert.deepEqual(JSON.parse(repoDigests), [`${host()}/docker/${builder}@${pushed}`]);

      const { stdout } = await engine.dockerOk(["run", "--rm", "--network", "none", ref], { config });
      assert.equal(stdout, `built by ${builder}\n`);
    });
  }

  it("ctr pulls what docker pushed and pushes it to another repository", async () => {
    await containerd.pull(base);
    const digest = await containerd.digest(base);
    assert.equal(digest, await servedDigest("busybox", "base"));

    const copy = `${host()}/ctr/copy:1`;
    await containerd.tag(base, copy);
    await containerd.push(copy);
    assert.equal(await servedDigest("ctr/copy", "1"), digest);

    await containerd.ctrOk(["images", "remove", base, copy]);
    await containerd.pull(copy);
    assert.equal(await containerd.digest(copy), digest);
  });

  it("buildah builds on the pushed image and pushes it; docker pulls and runs it", async () => {
    const container = await buildah.from(base);
    const file = join(await scratch.dir("buildah-context"), "hello.txt");
    await writeFile(file, "hello from buildah\n");
    await buildah.copy(container, file, "/hello.txt");
    const ref = `${host()}/buildah/hello:1`;
    await buildah.commit(container, ref);
    await buildah.push(ref);

    await engine.dockerOk(["pull", ref], { config });
    const { stdout } = await engine.dockerOk(["run", "--rm", "--network", "none", ref, "cat", "/hello.txt"], { config });
    assert.equal(stdout, "hello from buildah\n");
  });
});
