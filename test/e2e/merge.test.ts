/**
 * `lading merge` end to end: seed-000 images built offline with umoci, pushed with skopeo, merged by
 * the CLI, then checked with skopeo and `umoci unpack` only — never with lading's own reader.
 * `mergeSuite` takes a registry starter so the same checks run against any registry.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { buildSeedImages, countBlobs, must, pushImage, run, startDockerRegistry, startLadingRegistry, type TestRegistry } from "./merge-support.js";

const cli = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
const timestamp = "2024-01-01T00:00:00Z";

interface Report {
  digest: string;
  mediaType: string;
  bytesMoved: number;
  dryRun: boolean;
  platforms: { layers: { from: string; action: string; bytes: number }[]; conflicts: { kind: string; path: string }[]; configAction: string }[];
}

export function mergeSuite(name: string, start: (dir: string) => Promise<TestRegistry>): void {
  describe(`lading merge against ${name}`, { timeout: 300_000 }, () => {
    let work: string;
    let reg: TestRegistry;
    let authfile: string;
    const ref = (repo: string) => `${reg.host}/${repo}`;
    const lading = (...args: string[]) => run(process.execPath, [cli, ...args]);
    const skopeo = (...args: string[]) => must("skopeo", [args[0]!, "--authfile", authfile, ...args.slice(1)]);
    const mergeJson = async (...args: string[]): Promise<Report> => {
      const r = await lading("merge", ...args, "--json");
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Report;
    };

    before(async () => {
      work = await mkdtemp(join(os.tmpdir(), "lading-merge-e2e-"));
      authfile = join(work, "auth.json");
      await writeFile(authfile, "{}");
      const layout = await buildSeedImages(work);
      reg = await start(work);
      for (const tag of ["base", "maven", "golang"]) await pushImage(layout, tag, ref(`${tag}:latest`), authfile);
      for (const tag of ["base", "maven", "golang"]) await pushImage(layout, tag, ref(`docker/${tag}:latest`), authfile, "v2s2");
    });
    after(async () => {
      await reg?.stop();
      await rm(work, { recursive: true, force: true });
    });

    it("merges by mounting every layer: no layer bytes move, only config and manifest are new", async () => {
      const blobsBefore = reg.storage ? await countBlobs(reg.storage) : 0;
      const report = await mergeJson(ref("base:latest"), ref("maven:latest"), ref("golang:latest"), "--tag", ref("target:latest"), "--timestamp", timestamp);
      assert.equal(report.bytesMoved, 0);
      const layers = report.platforms[0]!.layers;
      assert.deepEqual(layers.map((l) => l.from), ["base", "maven", "golang", "golang"]);
      assert.ok(layers.every((l) => l.action === "mounted" && l.bytes === 0), JSON.stringify(layers));
      assert.equal(report.platforms[0]!.configAction, "uploaded");
      if (reg.storage) assert.equal(await countBlobs(reg.storage), blobsBefore + 2, "only the config and the manifest are new blobs");
      const raw = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${ref("target:latest")}`);
      assert.equal(`sha256:${createHash("sha256").update(raw).digest("hex")}`, report.digest);
    });

    it("yields an image whose files, Env, diff_ids and history skopeo and umoci agree with", async () => {
      const layout = join(work, "pulled");
      await skopeo("copy", "--quiet", "--src-tls-verify=false", `docker://${ref("target:latest")}`, `oci:${layout}:merged`);
      const manifest = JSON.parse(await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${ref("target:latest")}`)) as { layers: { digest: string }[] };
      const config = JSON.parse(await skopeo("inspect", "--tls-verify=false", "--config", `docker://${ref("target:latest")}`)) as {
        created: string;
        config: { Env: string[]; WorkingDir?: string; ExposedPorts?: object; Labels?: Record<string, string> };
        rootfs: { diff_ids: string[] };
        history: { empty_layer?: boolean }[];
      };
      const diffIds = await Promise.all(manifest.layers.map(async (l) => {
        const blob = await readFile(join(layout, "blobs", "sha256", l.digest.slice(7)));
        return `sha256:${createHash("sha256").update(gunzipSync(blob)).digest("hex")}`;
      }));
      assert.deepEqual(config.rootfs.diff_ids, diffIds);
      assert.equal(config.history.filter((h) => !h.empty_layer).length, manifest.layers.length);
      assert.equal(Date.parse(config.created), Date.parse(timestamp));
      const env = new Map(config.config.Env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
      assert.equal(env.get("MAVEN_HOME"), "/usr/share/maven");
      assert.equal(env.get("GOPATH"), "/go");
      assert.equal(env.get("LANG"), "C.UTF-8");
      assert.equal(env.get("PATH"), "/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/share/maven/bin");
      assert.equal(config.config.WorkingDir, "/go");
      assert.deepEqual(config.config.Labels, { "org.example.base": "yes", "org.example.maven": "3.9" });
      assert.ok(config.config.ExposedPorts && "8080/tcp" in config.config.ExposedPorts);

      const bundle = join(work, "bundle");
      await must("umoci", ["unpack", "--rootless", "--image", `${layout}:merged`, bundle]);
      for (const file of ["etc/os-release", "usr/bin/base-tool", "usr/share/maven/bin/mvn", "usr/share/maven/lib/maven-core.jar", "usr/local/go/bin/go", "go/src/hello/main.go"]) {
        assert.ok(existsSync(join(bundle, "rootfs", file)), `${file} is in the merged rootfs`);
      }
      // The dpkg database is the documented conflict: the last section's copy wins.
      assert.match(await readFile(join(bundle, "rootfs/var/lib/dpkg/status"), "utf8"), /Package: gcc/);
      const runtime = JSON.parse(await readFile(join(bundle, "config.json"), "utf8")) as { process: { env: string[] } };
      assert.ok(runtime.process.env.includes("GOPATH=/go") && runtime.process.env.includes("MAVEN_HOME=/usr/share/maven"));
    });

    it("is reproducible with --timestamp, and --dry-run predicts the digest without writing", async () => {
      const blobsBefore = reg.storage ? await countBlobs(reg.storage) : 0;
      const plan = await mergeJson(ref("base:latest"), ref("maven:latest"), ref("golang:latest"), "--tag", ref("planned:latest"), "--timestamp", timestamp, "--dry-run");
      assert.equal(plan.dryRun, true);
      assert.deepEqual(plan.platforms[0]!.layers.map((l) => l.action), ["mount", "mount", "mount", "mount"]);
      if (reg.storage) assert.equal(await countBlobs(reg.storage), blobsBefore);
      const missing = await run("skopeo", ["inspect", "--authfile", authfile, "--tls-verify=false", "--raw", `docker://${ref("planned:latest")}`]);
      assert.notEqual(missing.code, 0, "a dry run pushes nothing");
      const again = await mergeJson(ref("base:latest"), ref("maven:latest"), ref("golang:latest"), "--tag", ref("target:again"), "--timestamp", timestamp);
      assert.equal(again.digest, plan.digest);
      assert.deepEqual(again.platforms[0]!.layers.map((l) => l.action), ["skipped", "skipped", "skipped", "skipped"]);
      assert.equal(again.platforms[0]!.configAction, "skipped");
    });

    it("reports the dpkg conflict; --strict exits 3; --no-check-conflicts skips the analysis", async () => {
      const report = await mergeJson(ref("base:latest"), ref("maven:latest"), ref("golang:latest"), "--tag", ref("t2:latest"), "--dry-run");
      assert.deepEqual(report.platforms[0]!.conflicts.map((c) => [c.kind, c.path]), [["package-db", "/var/lib/dpkg/status"]]);
      const strict = await lading("merge", ref("base:latest"), ref("maven:latest"), ref("golang:latest"), "--tag", ref("t2:latest"), "--strict");
      assert.equal(strict.code, 3);
      assert.match(strict.stderr, /1 conflict\(s\) found and --strict is set: nothing was written/);
      assert.match(strict.stdout, /conflict \(package-db\): maven and golang each change \/var\/lib\/dpkg\/status/);
      const digest = await lading("digest", ref("t2:latest"));
      assert.notEqual(digest.code, 0, "a refused strict merge writes no manifest and no tag");
      const skipped = await lading("merge", ref("base:latest"), ref("maven:latest"), ref("golang:latest"), "--tag", ref("t2:latest"), "--strict", "--no-check-conflicts");
      assert.equal(skipped.code, 0, skipped.stderr);
    });

    it("refuses a section not built on the base, naming the first mismatch, in one line", async () => {
      const r = await lading("merge", ref("golang:latest"), ref("maven:latest"), "--tag", ref("bad:latest"));
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^lading: section maven layer 1 is sha256:[0-9a-f]{64} where the base has sha256:[0-9a-f]{64}: it was not built FROM the base.*; each section must be built FROM the base image/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    });

    it("keeps the Docker media-type family for Docker images", async () => {
      const report = await mergeJson(ref("docker/base:latest"), ref("docker/maven:latest"), ref("docker/golang:latest"), "--tag", ref("docker/target:latest"));
      assert.equal(report.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
      const mixed = await lading("merge", ref("base:latest"), ref("docker/maven:latest"), "--tag", ref("mixed:latest"), "--no-check-conflicts");
      assert.equal(mixed.code, 1);
      assert.match(mixed.stderr, /section maven is a Docker image .* but the base is an OCI one/);
    });

    it("takes base, sections, target and config overrides from merge.yaml", async () => {
      const file = join(work, "merge.yaml");
      await writeFile(file, [
        `base: ${ref("base:latest")}`,
        "sections:",
        `  - ${ref("maven:latest")}`,
        `  - ${ref("golang:latest")}`,
        `target: ${ref("fromfile:latest")}`,
        `timestamp: "${timestamp}"`,
        "config:",
        "  env: { JAVA_OPTS: -Xmx1g }",
        "  entrypoint: [/bin/sh, -c]",
        "",
      ].join("\n"));
      const report = await mergeJson("-f", file);
      assert.equal(report.bytesMoved, 0);
      const config = JSON.parse(await skopeo("inspect", "--tls-verify=false", "--config", `docker://${ref("fromfile:latest")}`)) as { config: { Env: string[]; Entrypoint: string[] } };
      assert.ok(config.config.Env.includes("JAVA_OPTS=-Xmx1g"));
      assert.deepEqual(config.config.Entrypoint, ["/bin/sh", "-c"]);
    });

    it("copies within a registry by mounting, and across registries by streaming, keeping the digest", async () => {
      const r = await lading("copy", ref("target:latest"), ref("copied:v1"), "--json");
      assert.equal(r.code, 0, r.stderr);
      const within = JSON.parse(r.stdout) as { digest: string; bytesMoved: number; blobs: { action: string }[] };
      assert.equal(within.bytesMoved, 0);
      assert.ok(within.blobs.every((b) => b.action === "mounted"));
      const digest = (await lading("digest", ref("copied:v1"))).stdout.trim();
      assert.equal(digest, within.digest);
      assert.deepEqual((await lading("ls", ref("copied"))).stdout.trim().split("\n"), ["v1"]);
      assert.ok((await lading("catalog", reg.host)).stdout.split("\n").includes("copied"));
      const other = await startDockerRegistry(await mkdtemp(join(work, "second-")));
      try {
        const across = await lading("copy", ref("target:latest"), `${other.host}/elsewhere:v1`, "--json");
        assert.equal(across.code, 0, across.stderr);
        const report = JSON.parse(across.stdout) as { digest: string; bytesMoved: number };
        assert.ok(report.bytesMoved > 0);
        const raw = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${other.host}/elsewhere:v1`);
        assert.equal(`sha256:${createHash("sha256").update(raw).digest("hex")}`, report.digest);
      } finally {
        await other.stop();
      }
    });

    it("prints manifest, config and blobs exactly as stored; inspects in human form", async () => {
      const manifest = (await lading("manifest", ref("target:latest"))).stdout;
      const parsed = JSON.parse(manifest) as { config: { digest: string }; layers: unknown[] };
      const config = (await lading("config", ref("target:latest"))).stdout;
      assert.equal(`sha256:${createHash("sha256").update(config).digest("hex")}`, parsed.config.digest);
      const blob = await run(process.execPath, [cli, "blob", `${ref("target")}@${parsed.config.digest}`]);
      assert.equal(blob.stdout, config);
      const inspect = (await lading("inspect", ref("target:latest"))).stdout;
      assert.match(inspect, /layers \(4\):/);
      assert.match(inspect, /umoci repack/);
      assert.match(inspect, /GOPATH=\/go/);
    });

    it("tags and deletes", async () => {
      assert.equal((await lading("copy", ref("base:latest"), ref("scratch:one"))).code, 0);
      assert.equal((await lading("tag", ref("scratch:one"), "two")).code, 0);
      assert.equal((await lading("digest", ref("scratch:two"))).stdout, (await lading("digest", ref("scratch:one"))).stdout);
      const del = await lading("delete", ref("scratch:two"));
      assert.equal(del.code, 0, del.stderr);
      const gone = await lading("manifest", ref("scratch:one"));
      assert.equal(gone.code, 1);
      assert.match(gone.stderr, /^lading: GET .*MANIFEST_UNKNOWN/);
    });

    it("mutates config and appends layers into images that validate and unpack", async () => {
      const m = await lading("mutate", ref("base:latest"), "--tag", ref("mutated:latest"), "--env", "FOO=bar", "--env", "LANG-", "--entrypoint", '["/bin/sh","-c"]', "--label", "team=build");
      assert.equal(m.code, 0, m.stderr);
      const config = JSON.parse(await skopeo("inspect", "--tls-verify=false", "--config", `docker://${ref("mutated:latest")}`)) as { config: { Env: string[]; Entrypoint: string[]; Labels: Record<string, string> } };
      assert.ok(config.config.Env.includes("FOO=bar") && !config.config.Env.some((e) => e.startsWith("LANG=")));
      assert.deepEqual(config.config.Entrypoint, ["/bin/sh", "-c"]);
      assert.equal(config.config.Labels.team, "build");

      const dir = join(work, "app");
      await must("mkdir", ["-p", join(dir, "opt/app")]);
      await writeFile(join(dir, "opt/app/run.sh"), "#!/bin/sh\necho app\n");
      const a = await lading("append", ref("mutated:latest"), dir, "--tag", ref("appended:latest"));
      assert.equal(a.code, 0, a.stderr);
      const v = await lading("validate", ref("appended:latest"));
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /^valid: 1 image\(s\), 2 layer\(s\)/m);
      const layout = join(work, "appended");
      await skopeo("copy", "--quiet", "--src-tls-verify=false", `docker://${ref("appended:latest")}`, `oci:${layout}:a`);
      await must("umoci", ["unpack", "--rootless", "--image", `${layout}:a`, join(work, "appended-bundle")]);
      assert.ok(existsSync(join(work, "appended-bundle/rootfs/opt/app/run.sh")));
      assert.ok(existsSync(join(work, "appended-bundle/rootfs/etc/os-release")));
    });

    it("validate passes the merged image and explains a broken one with the culprit's index", async () => {
      const ok = await lading("validate", ref("target:latest"));
      assert.equal(ok.code, 0, ok.stdout);
      const config = JSON.parse((await lading("config", ref("target:latest"))).stdout) as { rootfs: { diff_ids: string[] } };
      config.rootfs.diff_ids[2] = `sha256:${"0".repeat(64)}`;
      // A broken image no tool would make: pushed by hand over HTTP, around a config with a wrong diff_id.
      const body = Buffer.from(JSON.stringify(config));
      const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      const post = await fetch(`http://${reg.host}/v2/target/blobs/uploads/`, { method: "POST" });
      const location = new URL(post.headers.get("location")!, `http://${reg.host}`);
      location.searchParams.set("digest", digest);
      assert.equal((await fetch(location, { method: "PUT", body })).status, 201);
      const manifest = JSON.parse((await lading("manifest", ref("target:latest"))).stdout) as { config: { digest: string; size: number } };
      manifest.config = { ...manifest.config, digest, size: body.length };
      const put = await fetch(`http://${reg.host}/v2/target/manifests/broken`, { method: "PUT", headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" }, body: JSON.stringify(manifest) });
      assert.equal(put.status, 201);
      const bad = await lading("validate", ref("target:broken"));
      assert.equal(bad.code, 4);
      assert.match(bad.stdout, /layer 2: layer 2 unpacks to sha256:[0-9a-f]{64} but diff_ids\[2\] is sha256:0{64} \(containerd would print: wrong diff id/);
    });

    it("logs in and out using a private auth file", async () => {
      const authFile = join(work, "login.json");
      const login = await lading("login", reg.host, "-u", "me", "-p", "secret", "--authfile", authFile);
      assert.equal(login.code, 0, login.stderr);
      const saved = JSON.parse(await readFile(authFile, "utf8")) as { auths: Record<string, { auth: string }> };
      assert.equal(saved.auths[reg.host]!.auth, Buffer.from("me:secret").toString("base64"));
      assert.equal((await lading("logout", reg.host, "--authfile", authFile)).code, 0);
      assert.deepEqual((JSON.parse(await readFile(authFile, "utf8")) as { auths: object }).auths, {});
    });

    it("fails with a usage error and exit code 2 when TARGET is missing", async () => {
      const r = await lading("merge", ref("base:latest"), ref("maven:latest"));
      assert.equal(r.code, 2);
      assert.match(r.stderr, /usage: lading merge BASE SECTION\.\.\. --tag TARGET/);
    });
  });
}

mergeSuite("docker-registry", startDockerRegistry);
mergeSuite("lading", startLadingRegistry);
