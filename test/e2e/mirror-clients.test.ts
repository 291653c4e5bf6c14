/**
 * Real clients pulling through lading's pull-through cache: the Docker engine with lading in its
 * registry-mirrors, podman configured with lading as the mirror of docker.io (registries.conf: both
 * ask for library/x, no ns), and containerd with lading
 * as docker.io's mirror host (hosts.toml: it adds ?ns=docker.io). The upstream is Debian's
 * docker-registry holding images skopeo pushed, behind a proxy that counts what reaches it: a pull
 * of one platform of an index fetches that platform's blobs and no other's.
 */
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { useContainerd } from "../helpers/containerd.js";
import { DOCKER, useDockerEngine } from "../helpers/docker.js";
import { CountingProxy } from "../helpers/counting-proxy.js";
import { requireTools } from "../helpers/exec.js";
import { archImage, assertFiles, busyboxImage } from "../helpers/fixtures.js";
import { readImage, writeImageIndex, type Descriptor } from "../helpers/oci-layout.js";
import { Podman } from "../helpers/podman.js";
import { startDockerRegistry, startLading, type RunningRegistry } from "../helpers/registries.js";
import { Scratch } from "../helpers/scratch.js";
import { Skopeo } from "../helpers/skopeo.js";
import { buildImage } from "../helpers/umoci.js";

requireTools("podman", "skopeo", "umoci", "busybox", "containerd", "ctr", "docker-registry", DOCKER, "dockerd");

const containerd = await useContainerd();
const engine = await useDockerEngine();

describe("docker, podman and containerd pull through the mirror", { timeout: 300_000 }, () => {
  let scratch: Scratch;
  let upstream: RunningRegistry | undefined;
  let proxy: CountingProxy | undefined;
  let mirror: RunningRegistry | undefined;
  let src: string;
  let amd64: Descriptor;
  let arm64: Descriptor;

  before(async () => {
    scratch = await Scratch.create("e2e-mc");
    upstream = await startDockerRegistry(await scratch.dir("upstream"), scratch.path("."));
    const skopeo = await Skopeo.create(scratch);
    src = scratch.path("src");
    const work = await scratch.dir("work");
    await buildImage(src, "busybox", busyboxImage(), work);
    amd64 = await buildImage(src, "amd64", archImage("amd64"), work);
    arm64 = await buildImage(src, "arm64", archImage("arm64"), work);
    await writeImageIndex(src, "multi", [amd64, arm64]);
    await skopeo.copy(`oci:${src}:busybox`, `docker://${upstream.host}/library/busybox:1`);
    await skopeo.copy(`oci:${src}:multi`, `docker://${upstream.host}/library/multi:1`, ["--all"]);
    proxy = await CountingProxy.start(upstream.url);
    // registry:2's form for the clients that name no source (every repository mirrors the upstream),
    // and a prefix for the clients that say ?ns=docker.io.
    const config = scratch.path("mirror.json");
    await writeFile(config, JSON.stringify({ proxy: { remoteurl: proxy.url }, lading: { mirror: { upstreams: [{ prefix: "hub", url: proxy.url, namespace: "docker.io" }] } } }));
    mirror = await startLading(await scratch.dir("mirror"), ["--config", config]);
  });
  after(async () => {
    await mirror?.stop();
    await proxy?.close();
    await upstream?.stop();
    await scratch?.cleanup();
  });

  it("docker pulls docker.io images through lading as one of its registry-mirrors", async () => {
    const config = await scratch.dir("docker-config");
    await engine.withSettings({ "registry-mirrors": [`http://${mirror!.host}`], "insecure-registries": [mirror!.host] }, async () => {
      await engine.dockerOk(["pull", "busybox:1"], { config });
    });
    const { stdout } = await engine.dockerOk(["image", "inspect", "--format", "{{json .RepoDigests}}", "busybox:1"], { config });
    const served = await fetch(`${mirror!.url}/v2/library/busybox/manifests/1`, { method: "HEAD", headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
    assert.ok(stdout.includes(served.headers.get("docker-content-digest")!), `docker has the mirror's image: ${stdout}`);
  });

  it("podman pulls docker.io images through lading as its registries.conf mirror", async () => {
    const registries = `[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "${mirror!.host}"\ninsecure = true\n`;
    const podman = await Podman.create(scratch, registries);
    await podman.pull("docker.io/library/busybox:1");
    const rootfs = await podman.mount("docker.io/library/busybox:1");
    try {
      await assertFiles(rootfs, busyboxImage());
    } finally {
      await podman.unmount("docker.io/library/busybox:1");
    }
    const catalog = (await (await fetch(`${mirror!.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.ok(catalog.repositories.includes("library/busybox"), JSON.stringify(catalog));
  });

  it("containerd pulls through lading as docker.io's mirror host, naming its source with ?ns=, one platform's blobs only", async () => {
    const hosts = scratch.path("hosts");
    await mkdir(join(hosts, "docker.io"), { recursive: true });
    await writeFile(join(hosts, "docker.io", "hosts.toml"), `server = "https://registry-1.docker.io"\n\n[host."http://${mirror!.host}"]\n  capabilities = ["pull", "resolve"]\n`);
    const before = proxy!.seen.length;
    await containerd.ctrOk(["images", "pull", "--hosts-dir", hosts, "--platform", "linux/amd64", "docker.io/library/multi:1"]);
    const upstreamRequests = proxy!.seen.slice(before);
    const amd = await readImage(src, "amd64");
    const arm = await readImage(src, "arm64");
    for (const layer of amd.manifest.layers) assert.ok(upstreamRequests.includes(`GET /v2/library/multi/blobs/${layer.digest}`), `amd64 layer ${layer.digest} fetched`);
    for (const layer of arm.manifest.layers) assert.ok(!upstreamRequests.some((r) => r.includes(layer.digest)), `arm64 layer ${layer.digest} not fetched`);
    assert.ok(!upstreamRequests.some((r) => r.includes(arm64.digest)), "the arm64 manifest is not fetched");
    const catalog = (await (await fetch(`${mirror!.url}/v2/_catalog`)).json()) as { repositories: string[] };
    assert.ok(catalog.repositories.includes("hub/library/multi"), `?ns=docker.io maps to the hub prefix: ${JSON.stringify(catalog)}`);
    // A second pull is served by the cache alone.
    await containerd.ctrOk(["images", "rm", "docker.io/library/multi:1"]);
    const again = proxy!.seen.length;
    await containerd.ctrOk(["images", "pull", "--hosts-dir", hosts, "--platform", "linux/amd64", "docker.io/library/multi:1"]);
    assert.deepEqual(proxy!.seen.slice(again).filter((r) => r.startsWith("GET")), [], "no upstream GET on the warm pull");
  });
});
