/**
 * `lading merge` beyond one single-platform registry: a multi-platform base (per-platform merge,
 * an index as the result), a target in another registry (every layer copied), and a registry that
 * refuses mounts (the copy fallback). Checked with skopeo, umoci and docker-registry's own storage;
 * run against both lading and docker-registry.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { startMountRefusingProxy, type MountRefusingProxy } from "./merge-proxy.js";
import { buildMultiPlatformImages, buildSeedImages, must, platforms, pushImage, pushIndex, run, startDockerRegistry, startLadingRegistry, type TestRegistry } from "./merge-support.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const timestamp = "2024-01-01T00:00:00Z";
const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

interface Report {
  digest: string;
  mediaType: string;
  bytesMoved: number;
  platforms: { platform: string; manifestDigest: string; layers: { from: string; action: string; bytes: number }[] }[];
}

function suite(name: string, start: (dir: string) => Promise<TestRegistry>): void {
  describe(`lading merge across platforms and registries, against ${name}`, { timeout: 300_000 }, () => {
    let work: string;
    let reg: TestRegistry;
    let other: TestRegistry;
    let proxy: MountRefusingProxy;
    let authfile: string;
    const ref = (repo: string) => `${reg.host}/${repo}`;
    const lading = (...args: string[]) => run(process.execPath, [cli, ...args]);
    const skopeo = (...args: string[]) => must("skopeo", [args[0]!, "--authfile", authfile, ...args.slice(1)]);
    const mergeJson = async (...args: string[]): Promise<Report> => {
      const r = await lading("merge", ...args, "--json", "--timestamp", timestamp);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Report;
    };
    /** Pulls REF with skopeo into a fresh layout and unpacks it with umoci; returns the rootfs. */
    const unpack = async (reference: string, label: string): Promise<string> => {
      const layout = join(work, `pull-${label}`);
      await skopeo("copy", "--quiet", "--src-tls-verify=false", `docker://${reference}`, `oci:${layout}:x`);
      await must("umoci", ["unpack", "--rootless", "--image", `${layout}:x`, join(work, `bundle-${label}`)]);
      return join(work, `bundle-${label}`, "rootfs");
    };

    before(async () => {
      work = await mkdtemp(join(os.tmpdir(), "lading-merge-platforms-"));
      authfile = join(work, "auth.json");
      await writeFile(authfile, "{}");
      const multi = await buildMultiPlatformImages(work);
      const seed = await buildSeedImages(work);
      reg = await start(join(work, "one"));
      other = await startDockerRegistry(await mkdtemp(join(work, "other-")));
      proxy = await startMountRefusingProxy(reg.host);
      for (const tag of ["base", "maven", "golang"]) {
        await pushIndex(multi, tag, ref(`multi/${tag}:latest`), authfile);
        await pushImage(seed, tag, ref(`${tag}:latest`), authfile);
      }
    });
    after(async () => {
      await proxy?.stop();
      await other?.stop();
      await reg?.stop();
      await rm(work, { recursive: true, force: true });
    });

    it("merges a multi-platform base per platform into an index, sections matched by platform", async () => {
      const report = await mergeJson(ref("multi/base:latest"), ref("multi/maven:latest"), ref("multi/golang:latest"), "--tag", ref("multi/target:latest"));
      assert.equal(report.mediaType, "application/vnd.oci.image.index.v1+json");
      assert.equal(report.bytesMoved, 0);
      assert.deepEqual(report.platforms.map((p) => p.platform), platforms.map((a) => `linux/${a}`));
      for (const p of report.platforms) assert.deepEqual(p.layers.map((l) => `${l.from}:${l.action}`), ["base:mounted", "maven:mounted", "golang:mounted"]);

      const raw = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${ref("multi/target:latest")}`);
      assert.equal(sha256(raw), report.digest);
      const index = JSON.parse(raw) as { manifests: { digest: string; platform: { architecture: string } }[] };
      assert.deepEqual(index.manifests.map((m) => m.platform.architecture), [...platforms]);
      for (const m of index.manifests) {
        const arch = m.platform.architecture;
        const rootfs = await unpack(`${ref("multi/target")}@${m.digest}`, `multi-${arch}`);
        assert.equal(await readFile(join(rootfs, "etc/arch"), "utf8"), `${arch}\n`);
        assert.equal(await readFile(join(rootfs, "usr/share/maven/arch.txt"), "utf8"), `maven for ${arch}\n`);
        assert.equal(await readFile(join(rootfs, "usr/local/go/arch.txt"), "utf8"), `go for ${arch}\n`);
        const config = JSON.parse(await skopeo("inspect", "--tls-verify=false", "--config", `docker://${ref("multi/target")}@${m.digest}`)) as { architecture: string; config: { Env: string[] } };
        assert.equal(config.architecture, arch);
        for (const e of [`BASE_ARCH=${arch}`, "MAVEN_HOME=/usr/share/maven", "GOPATH=/go"]) assert.ok(config.config.Env.includes(e), `${arch}: ${e}`);
      }
      const v = await lading("validate", ref("multi/target:latest"));
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /^valid: 2 image\(s\), 6 layer\(s\)/m);
    });

    it("pulls the merged index into an OCI layout and pushes it to another registry, digests kept", async () => {
      const digest = sha256(await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${ref("multi/target:latest")}`));
      const dir = join(work, "multi-layout");
      const pulled = await lading("pull", ref("multi/target:latest"), `oci:${dir}:merged`, "--json");
      assert.equal(pulled.code, 0, pulled.stderr);
      const report = JSON.parse(pulled.stdout) as { digest: string; manifests: number };
      assert.deepEqual([report.digest, report.manifests], [digest, 3], "the index and both platforms' manifests");
      assert.equal(sha256(await skopeo("inspect", "--raw", `oci:${dir}:merged`)), digest);
      const pushed = await lading("push", `oci:${dir}:merged`, `${other.host}/multi:1`, "--json");
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.equal(sha256(await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${other.host}/multi:1`)), digest);
      const arm = await lading("pull", ref("multi/target:latest"), `oci:${dir}:arm`, "--platform", "linux/arm64", "--json");
      assert.equal((JSON.parse(arm.stdout) as { manifests: number }).manifests, 1);
    });

    it("merges one platform of a multi-platform base with --platform", async () => {
      const report = await mergeJson(ref("multi/base:latest"), ref("multi/maven:latest"), "--tag", ref("multi/arm:latest"), "--platform", "linux/arm64");
      assert.deepEqual(report.platforms.map((p) => p.platform), ["linux/arm64"]);
    });

    it("merges into another registry by copying every layer (bytes moved > 0), and the result unpacks", async () => {
      const target = `${other.host}/crossed:latest`;
      const report = await mergeJson(ref("base:latest"), ref("maven:latest"), ref("golang:latest"), "--tag", target);
      const layers = report.platforms[0]!.layers;
      assert.ok(layers.every((l) => l.action === "copied" && l.bytes > 0), JSON.stringify(layers));
      assert.equal(report.bytesMoved, layers.reduce((n, l) => n + l.bytes, 0));
      assert.ok(report.bytesMoved > 0);
      assert.equal(sha256(await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${target}`)), report.digest);
      const rootfs = await unpack(target, "crossed");
      for (const f of ["etc/os-release", "usr/share/maven/bin/mvn", "usr/local/go/bin/go", "go/src/hello/main.go"]) assert.ok((await readFile(join(rootfs, f))).length > 0, f);
      // The same merge within the first registry moves nothing and gives the same digest.
      const local = await mergeJson(ref("base:latest"), ref("maven:latest"), ref("golang:latest"), "--tag", ref("notcrossed:latest"));
      assert.equal(local.digest, report.digest);
      assert.equal(local.bytesMoved, 0);
    });

    it("falls back to copying when the registry refuses a mount, and the image is the same", async () => {
      const before = proxy.refused;
      const target = `${proxy.host}/refused:latest`;
      const report = await mergeJson(`${proxy.host}/base:latest`, `${proxy.host}/maven:latest`, `${proxy.host}/golang:latest`, "--tag", target, "--no-check-conflicts");
      const layers = report.platforms[0]!.layers;
      assert.ok(layers.every((l) => l.action === "copied"), JSON.stringify(layers));
      assert.ok(report.bytesMoved > 0);
      assert.equal(proxy.refused - before, layers.length, "one refused mount per layer");
      const direct = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${ref("refused:latest")}`);
      assert.equal(sha256(direct), report.digest);
      const v = await lading("validate", ref("refused:latest"));
      assert.equal(v.code, 0, v.stdout + v.stderr);

      const copy = await lading("copy", target, `${proxy.host}/refused-copy:latest`, "--json");
      assert.equal(copy.code, 0, copy.stderr);
      const copied = JSON.parse(copy.stdout) as { digest: string; bytesMoved: number; blobs: { action: string }[] };
      assert.equal(copied.digest, report.digest);
      assert.ok(copied.blobs.every((b) => b.action === "copied") && copied.bytesMoved > 0, copy.stdout);
    });
  });
}

suite("docker-registry", startDockerRegistry);
suite("lading", startLadingRegistry);
