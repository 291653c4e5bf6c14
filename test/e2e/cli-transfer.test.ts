/**
 * `lading pull` / `push` between a registry and an OCI layout or a `docker save` tarball,
 * `copy --referrers`, and `--json` on the read commands, against lading and docker-registry.
 * What lading writes is read back by skopeo, umoci and tar; what it reads was written by skopeo.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tagDescriptor } from "../helpers/oci-layout.js";
import { lading, ladingJson, must, seededRegistry, startDockerRegistry, startLadingRegistry, type SeededRegistry, type TestRegistry } from "./merge-support.js";

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

interface TransferReport {
  digest: string;
  manifests: number;
  blobs: { action: string }[];
  bytes: number;
}

/** Pushes bytes as a blob of `repo` with a monolithic POST+PUT, as any client would. */
async function putBlob(host: string, repo: string, body: Buffer): Promise<string> {
  const digest = sha256(body);
  const post = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  const location = new URL(post.headers.get("location")!, `http://${host}`);
  location.searchParams.set("digest", digest);
  const put = await fetch(location, { method: "PUT", body, headers: { "content-type": "application/octet-stream" } });
  assert.equal(put.status, 201);
  return digest;
}

async function putManifest(host: string, repo: string, ref: string, body: string, mediaType: string): Promise<Response> {
  return fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { method: "PUT", body, headers: { "content-type": mediaType } });
}

/** The referrers of `digest` in `repo`: the API where the registry has it, else the `sha256-<hex>` fallback tag. */
async function referrers(host: string, repo: string, digest: string): Promise<{ digest: string; artifactType?: string }[]> {
  const api = await fetch(`http://${host}/v2/${repo}/referrers/${digest}`);
  if (api.status === 200) return ((await api.json()) as { manifests: { digest: string }[] }).manifests;
  const tag = await fetch(`http://${host}/v2/${repo}/manifests/${digest.replace(":", "-")}`, { headers: { accept: "application/vnd.oci.image.index.v1+json" } });
  return tag.status === 200 ? ((await tag.json()) as { manifests: { digest: string }[] }).manifests : [];
}

function suite(name: string, start: (dir: string) => Promise<TestRegistry>): void {
  describe(`lading pull, push, copy --referrers and --json against ${name}`, { timeout: 300_000 }, () => {
    let s: SeededRegistry;
    let other: TestRegistry;
    const raw = (r: string) => s.skopeo("inspect", "--tls-verify=false", "--raw", `docker://${r}`);

    before(async () => {
      s = await seededRegistry(`transfer-${name}`, start);
      other = await startDockerRegistry(join(s.work, "other"));
    });
    after(async () => {
      await other?.stop();
      await s?.stop();
    });

    it("pulls into an OCI layout that skopeo and umoci read, keeping the digest", async () => {
      const dir = join(s.work, "pulled-layout");
      const report = await ladingJson<TransferReport>("pull", s.ref("golang:latest"), `oci:${dir}:go`);
      assert.equal(report.digest, sha256(await raw(s.ref("golang:latest"))));
      assert.equal(report.blobs.length, 4);
      const inspected = JSON.parse(await s.skopeo("inspect", `oci:${dir}:go`)) as { Digest: string };
      assert.equal(inspected.Digest, report.digest);
      await must("umoci", ["unpack", "--rootless", "--image", `${dir}:go`, join(s.work, "pulled-bundle")]);
      assert.ok(existsSync(join(s.work, "pulled-bundle/rootfs/go/src/hello/main.go")));
      const again = await ladingJson<TransferReport>("pull", s.ref("golang:latest"), `oci:${dir}:go2`);
      assert.ok(again.blobs.every((b) => b.action === "skipped") && again.bytes === 0, "a second pull writes no blob");
    });

    it("pushes an OCI layout byte for byte", async () => {
      const report = await ladingJson<TransferReport>("push", `oci:${s.layout}:maven`, s.ref("pushed/maven:1"));
      const expected = await tagDescriptor(s.layout, "maven");
      assert.equal(report.digest, expected.digest);
      assert.equal(sha256(await raw(s.ref("pushed/maven:1"))), expected.digest);
      const v = await lading("validate", s.ref("pushed/maven:1"));
      assert.equal(v.code, 0, v.stdout);
    });

    it("pulls into a docker save tarball that skopeo loads, with layer.tar files matching the diff_ids", async () => {
      const file = join(s.work, "golang.tar");
      await ladingJson<TransferReport>("pull", s.ref("golang:latest"), `docker-archive:${file}`);
      const names = (await must("tar", ["-tf", file])).trim().split("\n");
      assert.ok(names.includes("manifest.json") && names.includes("repositories"), names.join(" "));
      const config = JSON.parse(await s.skopeo("inspect", "--tls-verify=false", "--config", `docker://${s.ref("golang:latest")}`)) as { rootfs: { diff_ids: string[] } };
      const saved = JSON.parse(await must("tar", ["-xOf", file, "manifest.json"])) as { Config: string; RepoTags: string[]; Layers: string[] }[];
      assert.deepEqual(saved[0]!.RepoTags, [s.ref("golang:latest")]);
      assert.deepEqual(saved[0]!.Layers, config.rootfs.diff_ids.map((d) => `${d.slice(7)}/layer.tar`));
      const inspected = JSON.parse(await s.skopeo("inspect", `docker-archive:${file}`)) as { Layers: string[]; Env: string[] };
      assert.deepEqual(inspected.Layers, config.rootfs.diff_ids);
      assert.ok(inspected.Env.includes("GOPATH=/go"));
      const layout = join(s.work, "from-archive");
      await s.skopeo("copy", "--quiet", `docker-archive:${file}`, `oci:${layout}:x`);
      await must("umoci", ["unpack", "--rootless", "--image", `${layout}:x`, join(s.work, "archive-bundle")]);
      assert.ok(existsSync(join(s.work, "archive-bundle/rootfs/usr/local/go/bin/go")));
    });

    it("pushes a docker save tarball written by skopeo as a Docker image with the same config", async () => {
      const file = join(s.work, "maven-skopeo.tar");
      await s.skopeo("copy", "--quiet", `oci:${s.layout}:maven`, `docker-archive:${file}:example/maven:1`);
      const report = await ladingJson<TransferReport>("push", `docker-archive:${file}:example/maven:1`, s.ref("fromarchive:1"));
      const manifest = JSON.parse(await raw(s.ref("fromarchive:1"))) as { mediaType: string; config: { digest: string } };
      assert.equal(manifest.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
      assert.equal(sha256(await raw(s.ref("fromarchive:1"))), report.digest);
      const layoutConfig = JSON.parse(await readFile(join(s.layout, "blobs/sha256", (JSON.parse(await readFile(join(s.layout, "blobs/sha256", (await tagDescriptor(s.layout, "maven")).digest.slice(7)), "utf8")) as { config: { digest: string } }).config.digest.slice(7)), "utf8")) as { rootfs: { diff_ids: string[] } };
      const pushedConfig = JSON.parse(await s.skopeo("inspect", "--tls-verify=false", "--config", `docker://${s.ref("fromarchive:1")}`)) as { rootfs: { diff_ids: string[] } };
      assert.deepEqual(pushedConfig.rootfs.diff_ids, layoutConfig.rootfs.diff_ids);
      const v = await lading("validate", s.ref("fromarchive:1"));
      assert.equal(v.code, 0, v.stdout);
      const wrong = await lading("push", `docker-archive:${file}:example/other:1`, s.ref("fromarchive:2"));
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /has no image tagged example\/other:1/);
    });

    it("copies referrers with --referrers, within a registry and to another one", async () => {
      const subject = await lading("digest", s.ref("maven:latest"));
      const subjectDigest = subject.stdout.trim();
      const subjectSize = Buffer.byteLength(await raw(s.ref("maven:latest")));
      const empty = await putBlob(s.reg.host, "maven", Buffer.from("{}"));
      const payload = Buffer.from("a signature, for the test");
      const layer = await putBlob(s.reg.host, "maven", payload);
      const artifact = JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        artifactType: "application/vnd.example.signature",
        config: { mediaType: "application/vnd.oci.empty.v1+json", digest: empty, size: 2 },
        layers: [{ mediaType: "application/octet-stream", digest: layer, size: payload.length }],
        subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subjectDigest, size: subjectSize },
      });
      const artifactDigest = sha256(artifact);
      const put = await putManifest(s.reg.host, "maven", artifactDigest, artifact, "application/vnd.oci.image.manifest.v1+json");
      assert.equal(put.status, 201);
      if (put.headers.get("oci-subject") === null) {
        // A registry without the referrers API: the pushing client maintains the fallback tag.
        const index = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: artifactDigest, size: artifact.length, artifactType: "application/vnd.example.signature" }] });
        assert.equal((await putManifest(s.reg.host, "maven", subjectDigest.replace(":", "-"), index, "application/vnd.oci.image.index.v1+json")).status, 201);
      }
      assert.deepEqual((await referrers(s.reg.host, "maven", subjectDigest)).map((d) => d.digest), [artifactDigest]);

      for (const dest of [s.ref("signed:latest"), `${other.host}/signed:latest`]) {
        const report = await ladingJson<{ digest: string; manifests: number }>("copy", "--referrers", s.ref("maven:latest"), dest);
        assert.equal(report.digest, subjectDigest);
        assert.equal(report.manifests, 2, `${dest}: the image and its signature`);
        const host = dest.split("/")[0]!;
        const found = await referrers(host, "signed", subjectDigest);
        assert.deepEqual(found.map((d) => d.digest), [artifactDigest], `${dest} lists the signature as a referrer`);
        assert.equal(found[0]!.artifactType, "application/vnd.example.signature");
        const blob = await fetch(`http://${host}/v2/signed/blobs/${layer}`);
        assert.equal(Buffer.from(await blob.arrayBuffer()).toString(), payload.toString());
      }
      const plain = await ladingJson<{ manifests: number }>("copy", s.ref("maven:latest"), s.ref("unsigned:latest"));
      assert.equal(plain.manifests, 1, "without --referrers only the image is copied");
    });

    it("draws progress bars on a terminal and stays quiet when not on one", async () => {
      const main = join(import.meta.dirname, "../../src/cli/main.js");
      // script(1) gives the command a pseudo-terminal, as a user's shell would.
      const tty = await must("script", ["-qc", `"${process.execPath}" "${main}" copy ${s.ref("golang:latest")} ${s.ref("progress:tty")}`, "/dev/null"]);
      assert.match(tty, /overall +\[[^\]]*\] \d+\/\d+ bytes, 4\/4 blobs/);
      assert.match(tty, /[0-9a-f]{12} \[[^\]]*\] \d+\/\d+ bytes mounted/);
      const piped = await lading("copy", s.ref("golang:latest"), s.ref("progress:piped"));
      assert.equal(piped.code, 0);
      assert.equal(piped.stderr, "", "no progress output without a terminal");
      assert.match(piped.stdout, /^copied \S+ → \S+ \(sha256:[0-9a-f]{64}\): 1 manifest, 4 blobs, 0 bytes moved\n$/);
    });

    it("prints JSON from manifest, config, blob, digest, login and logout", async () => {
      const digest = (await lading("digest", s.ref("maven:latest"))).stdout.trim();
      const m = await ladingJson<{ digest: string; mediaType: string; size: number; manifest: { config: { digest: string; size: number } } }>("manifest", s.ref("maven:latest"));
      assert.equal(m.digest, digest);
      assert.equal(m.mediaType, "application/vnd.oci.image.manifest.v1+json");
      assert.equal(m.size, Buffer.byteLength(await raw(s.ref("maven:latest"))));
      const c = await ladingJson<{ digest: string; size: number; config: { config: { Env: string[] } } }>("config", s.ref("maven:latest"));
      assert.equal(c.digest, m.manifest.config.digest);
      assert.ok(c.config.config.Env.includes("MAVEN_HOME=/usr/share/maven"));
      const b = await ladingJson<{ digest: string; size: number }>("blob", `${s.ref("maven")}@${c.digest}`);
      assert.deepEqual([b.digest, b.size], [c.digest, m.manifest.config.size]);
      const authfile = join(s.work, "login.json");
      const login = await ladingJson<{ registry: string; savedTo: string }>("login", s.reg.host, "-u", "me", "-p", "pw", "--authfile", authfile);
      assert.deepEqual(login, { registry: s.reg.host, username: "me", savedTo: authfile });
      assert.deepEqual(await ladingJson("logout", s.reg.host, "--authfile", authfile), { registry: s.reg.host, removed: true });
      assert.deepEqual(await ladingJson("logout", s.reg.host, "--authfile", authfile), { registry: s.reg.host, removed: false });
    });
  });
}

suite("docker-registry", startDockerRegistry);
suite("lading", startLadingRegistry);
