/**
 * A corpus of images whose layers the real tools here wrote: docker build (legacy builder and
 * BuildKit), docker save, buildah (from/copy/commit, gzip and zstd, and buildah bud), podman build, umoci insert and repack, skopeo copy between
 * formats and compressions, containerd's ctr export, and GNU tar in its gnu and posix formats
 * (long names, hard links, sparse files in both of its forms) appended by lading. Every image tool runs over every
 * image: validate, inspect, flatten (and validate of the result), export (read back by GNU tar) and
 * append; merge over those built on one base; docker load of what lading pulls. What one tool
 * reads, all read.
 */
import assert from "node:assert/strict";
import { link, mkdir, open, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../api/support.js";
import { Buildah } from "../helpers/buildah.js";
import { Podman } from "../helpers/podman.js";
import { useContainerd } from "../helpers/containerd.js";
import { DOCKER, useDockerEngine } from "../helpers/docker.js";
import { requireTools } from "../helpers/exec.js";
import { Scratch } from "../helpers/scratch.js";
import { lading, must } from "./merge-support.js";

requireTools(DOCKER, "dockerd", "containerd", "ctr", "buildah", "podman", "busybox", "umoci", "skopeo", "tar");

const engine = await useDockerEngine();
const containerd = await useContainerd();

/** A Dockerfile step that leaves every common kind of entry: long names, hard and symbolic links, a deletion. */
const long = "n".repeat(120);
const busyLayer = `RUN mkdir -p /corpus/${long} && echo deep > /corpus/${long}/deep.txt && echo one > /corpus/one.txt && ln /corpus/one.txt /corpus/hard.txt && ln -s one.txt /corpus/soft.txt && rm -rf /etc/motd /tmp
RUN echo marker > /corpus/marker.txt`;

describe("every image tool over layers the real tools wrote", { timeout: 600_000 }, () => {
  let scratch: Scratch;
  let server: TestServer | undefined;
  let config: string;
  let authfile: string;
  const host = () => `127.0.0.1:${server!.port}`;
  const ref = (name: string) => `${host()}/corpus/${name}:1`;
  const skopeo = (...args: string[]) => must("skopeo", ["--insecure-policy", ...args]);
  /** Images made below, by name; the checks run over all of them. */
  const corpus: string[] = [];

  before(async () => {
    scratch = await Scratch.create("e2e-corpus");
    server = await startTestServer();
    config = await scratch.dir("docker-config");
    authfile = scratch.path("auth.json");
    await writeFile(authfile, "{}");
    const busybox = ref("busybox");
    await engine.importBusybox(busybox);
    await engine.dockerOk(["push", busybox], { config });

    for (const builder of ["legacy", "buildkit"] as const) {
      const context = await scratch.dir(`docker-${builder}`);
      await writeFile(join(context, "Dockerfile"), `FROM ${busybox}\n${busyLayer}\n`);
      await engine.build(context, ref(`docker-${builder}`), { builder });
      await engine.dockerOk(["push", ref(`docker-${builder}`)], { config });
      corpus.push(`docker-${builder}`);
    }

    // docker save, then lading push from the archive.
    const saved = scratch.path("saved.tar");
    await engine.dockerOk(["save", "-o", saved, ref("docker-legacy")], { config });
    assert.equal((await lading("push", `docker-archive:${saved}`, ref("docker-save"))).code, 0);
    corpus.push("docker-save");

    // containerd: pull what docker pushed, export it, push the export with lading.
    await containerd.pull(ref("docker-buildkit"));
    const exported = scratch.path("ctr-export.tar");
    await containerd.ctrOk(["images", "export", exported, ref("docker-buildkit")]);
    const pushed = await lading("push", `docker-archive:${exported}`, ref("ctr-export"));
    assert.equal(pushed.code, 0, pushed.stderr);
    corpus.push("ctr-export");

    // buildah: a layer of its own, pushed gzip and zstd.
    const buildah = await Buildah.create(scratch);
    const container = await buildah.from(busybox);
    const file = join(await scratch.dir("buildah-context"), "marker.txt");
    await writeFile(file, "marker\n");
    await buildah.copy(container, file, "/corpus/marker.txt");
    await buildah.commit(container, "corpus-buildah");
    await buildah.push("corpus-buildah", `docker://${ref("buildah")}`);
    // buildah build from a Dockerfile (COPY only: RUN needs a network namespace buildah cannot make here).
    const budContext = await scratch.dir("buildah-bud");
    await writeFile(join(budContext, "marker.txt"), "marker\n");
    await writeFile(join(budContext, "Dockerfile"), `FROM ${busybox}\nCOPY marker.txt /corpus/marker.txt\n`);
    await buildah.exec(["bud", "--tls-verify=false", "--signature-policy", scratch.path("buildah", "policy.json"), "--format", "docker", "-t", "corpus-bud", budContext], 180_000);
    await buildah.push("corpus-bud", `docker://${ref("buildah-bud")}`);
    corpus.push("buildah-bud");
    // podman build, the same way (its own storage, OCI format, pushed zstd).
    const podman = await Podman.create(scratch);
    await podman.exec(["build", "--tls-verify=false", "--authfile", scratch.path("podman", "auth.json"), "--format", "oci", "-t", "corpus-podman", budContext], 180_000);
    await podman.push("corpus-podman", `docker://${ref("podman-build")}`, ["--compression-format", "zstd"]);
    corpus.push("podman-build");
    await buildah.exec(["push", "--tls-verify=false", "--signature-policy", scratch.path("buildah", "policy.json"), "--compression-format", "zstd", "corpus-buildah", `docker://${ref("buildah-zstd")}`]);
    corpus.push("buildah", "buildah-zstd");

    // skopeo between formats and compressions.
    await skopeo("copy", "--quiet", "--authfile", authfile, "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "oci", `docker://${ref("docker-legacy")}`, `docker://${ref("skopeo-oci")}`);
    await skopeo("copy", "--quiet", "--authfile", authfile, "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "oci", "--dest-compress-format", "zstd", `docker://${ref("docker-legacy")}`, `docker://${ref("skopeo-zstd")}`);
    await skopeo("copy", "--quiet", "--authfile", authfile, "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "v2s2", `docker://${ref("skopeo-oci")}`, `docker://${ref("skopeo-v2s2")}`);
    corpus.push("skopeo-oci", "skopeo-zstd", "skopeo-v2s2");

    // umoci: insert (a tar with no end-of-archive blocks) and repack.
    const layout = scratch.path("umoci-layout");
    await skopeo("copy", "--quiet", "--authfile", authfile, "--src-tls-verify=false", `docker://${ref("skopeo-oci")}`, `oci:${layout}:insert`);
    await must("umoci", ["tag", "--image", `${layout}:insert`, "repack"]);
    await must("umoci", ["insert", "--image", `${layout}:insert`, file, "/corpus/inserted.txt"]);
    const bundle = scratch.path("umoci-bundle");
    await must("umoci", ["unpack", "--rootless", "--image", `${layout}:repack`, bundle]);
    await writeFile(join(bundle, "rootfs/corpus/repacked.txt"), "repacked\n");
    await must("umoci", ["repack", "--image", `${layout}:repack`, bundle]);
    for (const tag of ["insert", "repack"]) {
      await skopeo("copy", "--quiet", "--authfile", authfile, "--dest-tls-verify=false", `oci:${layout}:${tag}`, `docker://${ref(`umoci-${tag}`)}`);
      corpus.push(`umoci-${tag}`);
    }

    // GNU tar layers, appended by lading: gnu format (long names) and posix with a sparse file.
    const tree = await scratch.dir("tar-tree");
    await mkdir(join(tree, "corpus", long), { recursive: true });
    await writeFile(join(tree, "corpus", long, "deep.txt"), "deep\n");
    await writeFile(join(tree, "corpus/marker.txt"), "marker\n");
    await link(join(tree, "corpus/marker.txt"), join(tree, "corpus/hard.txt"));
    await symlink("marker.txt", join(tree, "corpus/soft.txt"));
    const sparse = await open(join(tree, "corpus/sparse.bin"), "w");
    await sparse.write("end", 8 << 20);
    await sparse.close();
    for (const format of ["gnu", "posix"]) {
      const tarball = scratch.path(`layer-${format}.tar`);
      await must("tar", ["-C", tree, `--format=${format}`, "--sparse", "-cf", tarball, "."]);
      const appended = await lading("append", busybox, tarball, "--tag", ref(`tar-${format}`));
      assert.equal(appended.code, 0, appended.stderr);
      corpus.push(`tar-${format}`);
    }
  });
  after(async () => {
    await server?.close();
    await scratch?.cleanup();
  });

  it("validate calls every image valid, and inspect reads each", async () => {
    for (const name of corpus) {
      const v = await lading("validate", ref(name));
      assert.equal(v.code, 0, `${name}: ${v.stdout}${v.stderr}`);
      const i = await lading("inspect", ref(name));
      assert.equal(i.code, 0, `${name}: ${i.stderr}`);
    }
  });

  it("flatten and export read every image, and GNU tar reads what export writes", async () => {
    for (const name of corpus) {
      const flat = await lading("flatten", ref(name), "--tag", ref(`${name}-flat`));
      assert.equal(flat.code, 0, `${name}: ${flat.stderr}`);
      const v = await lading("validate", ref(`${name}-flat`));
      assert.equal(v.code, 0, `${name} flattened: ${v.stdout}${v.stderr}`);
      const file = scratch.path(`${name}.tar`);
      const e = await lading("export", ref(name), "-o", file);
      assert.equal(e.code, 0, `${name}: ${e.stderr}`);
      const names = (await must("tar", ["-tf", file])).split("\n");
      assert.ok(names.includes("corpus/marker.txt"), `${name} exports corpus/marker.txt`);
      assert.ok(!names.some((n) => n.includes(".wh.")), `${name} exports no whiteouts`);
      if (name.startsWith("docker-")) assert.ok(!names.includes("etc/motd") && names.includes(`corpus/${long}/deep.txt`), `${name}: deletions applied, long names kept`);
    }
  });

  it("append adds a layer onto every image", async () => {
    const dir = await scratch.dir("appended", "opt");
    await writeFile(join(dir, "added.txt"), "added\n");
    for (const name of corpus) {
      const a = await lading("append", ref(name), scratch.path("appended"), "--tag", ref(`${name}-appended`));
      assert.equal(a.code, 0, `${name}: ${a.stderr}`);
      assert.match(a.stdout, /^appended \S+ → \S+ \(sha256:[0-9a-f]{64}\): 1 layer added/);
      const v = await lading("validate", ref(`${name}-appended`));
      assert.equal(v.code, 0, `${name} appended: ${v.stdout}${v.stderr}`);
    }
  });

  it("merge reads the layers of sections docker and GNU tar made on one base, and reports where they overlap", async () => {
    const sections = ["docker-legacy", "tar-gnu", "tar-posix"];
    const merged = await lading("merge", ref("busybox"), ...sections.map(ref), "--tag", ref("merged"), "--json");
    assert.equal(merged.code, 0, merged.stdout + merged.stderr);
    const report = JSON.parse(merged.stdout) as { platforms: { conflicts: { path: string }[] }[] };
    assert.ok(report.platforms[0]!.conflicts.some((c) => c.path === "/corpus/marker.txt"), JSON.stringify(report.platforms[0]!.conflicts));
    const v = await lading("validate", ref("merged"));
    assert.equal(v.code, 0, v.stdout + v.stderr);
    // A section converted on the way (to OCI by skopeo) cannot be stitched onto the Docker base: the family names the fix.
    const converted = await lading("merge", ref("busybox"), ref("skopeo-zstd"), "--tag", ref("merged-zstd"));
    assert.equal(converted.code, 1);
    assert.match(converted.stderr, /^lading: section skopeo-zstd is an OCI image \(\S+\) but the base is a Docker one \(\S+\)(?: \(and \d+ more mismatch(?:es)?\))?; each section must be built FROM the base image/);
  });

  it("docker loads what lading pulls into a docker archive, and runs it", async () => {
    const archive = scratch.path("pulled.tar");
    const pulled = await lading("pull", ref("buildah-zstd"), `docker-archive:${archive}:corpus/loaded:1`);
    assert.equal(pulled.code, 0, pulled.stderr);
    await engine.dockerOk(["load", "-i", archive], { config });
    const { stdout } = await engine.dockerOk(["run", "--rm", "--network", "none", "corpus/loaded:1", "cat", "/corpus/marker.txt"], { config });
    assert.equal(stdout, "marker\n");
  });

  it("docker runs what lading flattened from a BuildKit image, and from GNU tar's sparse files of either form", async () => {
    const { stdout } = await engine.dockerOk(["run", "--rm", "--network", "none", ref("docker-buildkit-flat"), "sh", "-c", "cat /corpus/marker.txt /corpus/hard.txt; readlink /corpus/soft.txt"], { config });
    assert.equal(stdout, "marker\none\none.txt\n");
    for (const format of ["gnu", "posix"]) {
      const sparse = await engine.dockerOk(["run", "--rm", "--network", "none", ref(`tar-${format}-flat`), "sh", "-c", "wc -c < /corpus/sparse.bin; tail -c 3 /corpus/sparse.bin"], { config });
      assert.equal(sparse.stdout.replace(/ +/g, ""), `${(8 << 20) + 3}\nend`, format);
    }
  });
});
