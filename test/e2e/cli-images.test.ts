/**
 * `lading rebase`, `flatten` and `export` end to end, against lading and docker-registry, on the
 * seed-000 images plus one whose last layer deletes files (whiteouts). Results are checked with
 * skopeo, umoci and tar, not with lading's own reader.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { addLayer } from "../helpers/umoci.js";
import { lading, ladingJson, must, pushImage, seededRegistry, startDockerRegistry, startLadingRegistry, type SeededRegistry, type TestRegistry } from "./merge-support.js";

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

interface Manifest {
  layers: { digest: string; size: number }[];
  config: { digest: string };
}
interface Config {
  created: string;
  config: { Env: string[] };
  rootfs: { diff_ids: string[] };
  history: { created_by?: string; empty_layer?: boolean }[];
}

function suite(name: string, start: (dir: string) => Promise<TestRegistry>): void {
  describe(`lading rebase, flatten and export against ${name}`, { timeout: 300_000 }, () => {
    let s: SeededRegistry;
    const raw = (r: string) => s.skopeo("inspect", "--tls-verify=false", "--raw", `docker://${r}`);
    const config = async (r: string) => JSON.parse(await s.skopeo("inspect", "--tls-verify=false", "--config", `docker://${r}`)) as Config;
    const unpack = async (r: string, label: string): Promise<string> => {
      const layout = join(s.work, `pull-${label}`);
      await s.skopeo("copy", "--quiet", "--src-tls-verify=false", `docker://${r}`, `oci:${layout}:x`);
      await must("umoci", ["unpack", "--rootless", "--image", `${layout}:x`, join(s.work, `bundle-${label}`)]);
      return join(s.work, `bundle-${label}`, "rootfs");
    };
    /** diff_ids computed from the layer blobs skopeo fetched: what a runtime would check. */
    const diffIdsOf = async (r: string, label: string) => {
      const layout = join(s.work, `blobs-${label}`);
      await s.skopeo("copy", "--quiet", "--src-tls-verify=false", `docker://${r}`, `oci:${layout}:x`);
      const m = JSON.parse(await raw(r)) as Manifest;
      return Promise.all(m.layers.map(async (l) => sha256(gunzipSync(await readFile(join(layout, "blobs/sha256", l.digest.slice(7)))))));
    };

    before(async () => {
      s = await seededRegistry(`images-${name}`, start);
      // "deleter": golang plus a layer removing a file and a directory the lower layers wrote.
      await addLayer(s.layout, "golang", "deleter", { "usr/bin/base-tool": null, "go/src": null, "etc/added": "added late\n" }, s.work);
      await pushImage(s.layout, "deleter", s.ref("deleter:latest"), join(s.work, "auth.json"));
      const patch = join(s.work, "patch");
      await mkdir(join(patch, "etc"), { recursive: true });
      await writeFile(join(patch, "etc/patched"), "security fix\n");
      const a = await lading("append", s.ref("base:latest"), patch, "--tag", s.ref("base:v2"), "--timestamp", "2024-02-02T00:00:00Z");
      assert.equal(a.code, 0, a.stderr);
    });
    after(async () => s?.stop());

    it("rebases an image's own layers onto a new base by mounting, with diff_ids and history swapped", async () => {
      const result = await ladingJson<{ digest: string; bytesMoved: number; removed: number; added: number; kept: number; blobs: { action: string }[] }>(
        "rebase", s.ref("maven:latest"), "--old", s.ref("base:latest"), "--new", s.ref("base:v2"), "--tag", s.ref("maven:rebased"),
      );
      assert.deepEqual([result.removed, result.added, result.kept, result.bytesMoved], [1, 2, 1, 0]);
      assert.ok(result.blobs.every((b) => b.action === "mounted" || b.action === "skipped"), JSON.stringify(result.blobs));
      assert.equal(sha256(await raw(s.ref("maven:rebased"))), result.digest);

      const [rebased, newBase, maven] = await Promise.all([s.ref("maven:rebased"), s.ref("base:v2"), s.ref("maven:latest")].map((r) => raw(r).then((m) => JSON.parse(m) as Manifest)));
      assert.deepEqual(rebased!.layers.map((l) => l.digest), [...newBase!.layers.map((l) => l.digest), maven!.layers[1]!.digest]);
      const c = await config(s.ref("maven:rebased"));
      assert.deepEqual(c.rootfs.diff_ids, await diffIdsOf(s.ref("maven:rebased"), "rebased"));
      const layerSteps = c.history.filter((h) => !h.empty_layer);
      assert.equal(layerSteps.length, 3);
      assert.match(layerSteps[1]!.created_by ?? "", /lading append/, "the new base's history comes first");
      assert.ok(c.config.Env.includes("MAVEN_HOME=/usr/share/maven"));
      const rootfs = await unpack(s.ref("maven:rebased"), "rebased");
      for (const f of ["etc/patched", "etc/os-release", "usr/share/maven/bin/mvn"]) assert.ok(existsSync(join(rootfs, f)), f);
      const v = await lading("validate", s.ref("maven:rebased"));
      assert.equal(v.code, 0, v.stdout);
    });

    it("refuses to rebase an image that does not start with OLD, naming the first mismatch", async () => {
      const r = await lading("rebase", s.ref("maven:latest"), "--old", s.ref("golang:latest"), "--new", s.ref("base:v2"), "--tag", s.ref("maven:bad"));
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^lading: .*maven:latest cannot be rebased: the image layer 1 is sha256:[0-9a-f]{64} where the old base has sha256:[0-9a-f]{64}/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    });

    it("flattens into one layer with whiteouts applied, a matching diff_id and one history entry", async () => {
      const result = await ladingJson<{ digest: string; diffId: string; stats: { layers: number } }>("flatten", s.ref("deleter:latest"), "--tag", s.ref("flat:latest"));
      assert.equal(result.stats.layers, 4);
      assert.equal(sha256(await raw(s.ref("flat:latest"))), result.digest);
      const m = JSON.parse(await raw(s.ref("flat:latest"))) as Manifest;
      assert.equal(m.layers.length, 1);
      const c = await config(s.ref("flat:latest"));
      assert.deepEqual(c.rootfs.diff_ids, await diffIdsOf(s.ref("flat:latest"), "flat"));
      assert.deepEqual(c.rootfs.diff_ids, [result.diffId]);
      assert.equal(c.history.length, 1);
      assert.ok(c.config.Env.includes("GOPATH=/go"));
      const rootfs = await unpack(s.ref("flat:latest"), "flat");
      for (const f of ["etc/os-release", "etc/added", "usr/local/go/bin/go"]) assert.ok(existsSync(join(rootfs, f)), `${f} is kept`);
      for (const f of ["usr/bin/base-tool", "go/src/hello/main.go"]) assert.ok(!existsSync(join(rootfs, f)), `${f} was deleted`);
      assert.match(await readFile(join(rootfs, "var/lib/dpkg/status"), "utf8"), /Package: gcc/);
    });

    it("exports the flattened filesystem to a file and to stdout, identical, without whiteout files", async () => {
      const file = join(s.work, "deleter.tar");
      const result = await ladingJson<{ size: number; digest: string; entries: number }>("export", s.ref("deleter:latest"), "-o", file);
      const bytes = await readFile(file);
      assert.equal(bytes.length, result.size);
      assert.equal(sha256(bytes), result.digest);
      const names = (await must("tar", ["-tf", file])).trim().split("\n");
      assert.equal(names.length, result.entries);
      assert.ok(!names.some((n) => n.includes(".wh.")), names.join(" "));
      assert.ok(names.includes("etc/added") && names.includes("usr/local/go/bin/go"));
      assert.ok(!names.includes("usr/bin/base-tool") && !names.some((n) => n.startsWith("go/src/")));
      const piped = join(s.work, "piped.tar");
      await must("sh", ["-c", `"${process.execPath}" "$1" export "$2" > "$3"`, "sh", join(import.meta.dirname, "../../src/cli/main.js"), s.ref("deleter:latest"), piped]);
      assert.ok((await readFile(piped)).equals(bytes), "stdout and -o give the same tar");
      // The flattened image's single layer is exactly this tar.
      assert.equal((await config(s.ref("flat:latest"))).rootfs.diff_ids[0], result.digest);
    });

    it("reads a layer umoci insert wrote (no end-of-archive blocks): merge checks it, flatten, export and validate agree", async () => {
      await must("umoci", ["tag", "--image", `${s.layout}:golang`, "inserted"]);
      const extra = join(s.work, "inserted.txt");
      await writeFile(extra, "put there by umoci insert\n");
      await must("umoci", ["insert", "--image", `${s.layout}:inserted`, extra, "/opt/inserted.txt"]);
      await pushImage(s.layout, "inserted", s.ref("inserted:latest"), join(s.work, "auth.json"));
      // The premise: the layer's tar really ends without the two zero blocks a tar is meant to end with.
      const m = JSON.parse(await raw(s.ref("inserted:latest"))) as Manifest;
      const layout = join(s.work, "blobs-inserted");
      await s.skopeo("copy", "--quiet", "--src-tls-verify=false", `docker://${s.ref("inserted:latest")}`, `oci:${layout}:x`);
      const tarBytes = gunzipSync(await readFile(join(layout, "blobs/sha256", m.layers.at(-1)!.digest.slice(7))));
      assert.ok(!tarBytes.subarray(-1024).equals(Buffer.alloc(1024)), "umoci insert wrote an unterminated tar");

      const validate = await lading("validate", s.ref("inserted:latest"));
      assert.equal(validate.code, 0, validate.stdout + validate.stderr);
      const merged = await ladingJson<{ platforms: { conflicts: unknown[] }[] }>("merge", s.ref("base:latest"), s.ref("inserted:latest"), s.ref("maven:latest"), "--tag", s.ref("with-inserted:latest"));
      assert.ok(Array.isArray(merged.platforms[0]!.conflicts));
      const flat = await lading("flatten", s.ref("inserted:latest"), "--tag", s.ref("inserted:flat"));
      assert.equal(flat.code, 0, flat.stderr);
      const file = join(s.work, "inserted.tar");
      const exported = await lading("export", s.ref("inserted:latest"), "-o", file);
      assert.equal(exported.code, 0, exported.stderr);
      assert.ok((await must("tar", ["-tf", file])).split("\n").includes("opt/inserted.txt"));
      const rootfs = await unpack(s.ref("with-inserted:latest"), "with-inserted");
      assert.equal(await readFile(join(rootfs, "opt/inserted.txt"), "utf8"), "put there by umoci insert\n");
    });
  });
}

suite("docker-registry", startDockerRegistry);
suite("lading", startLadingRegistry);
