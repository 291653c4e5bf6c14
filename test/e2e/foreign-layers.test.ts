/**
 * An image with a non-distributable layer (its bytes at another URL, never in the registry), as
 * Windows base images have: validate checks what it can and notes the rest, merge merges it and
 * notes the layer it could not check for conflicts, flatten and export say why they cannot.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { digestOf, pushBlob, pushManifest, startTestServer, type TestServer } from "../api/support.js";
import { makeTar } from "../unit/tar-fixtures.js";
import { lading, ladingJson } from "./merge-support.js";

const ociManifest = "application/vnd.oci.image.manifest.v1+json";

describe("image tools over a non-distributable layer", { timeout: 60_000 }, () => {
  let server: TestServer;
  const ref = (r: string) => `127.0.0.1:${server.port}/${r}`;
  const foreign = { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: digestOf("the foreign layer's bytes, elsewhere"), size: 12345, urls: ["https://store.example.com/layer"] };

  /** Pushes an image of `layers` (tars made here, and the foreign one where null is). */
  async function image(repo: string, layers: (Buffer | null)[]): Promise<void> {
    const descriptors = [];
    const diffIds = [];
    for (const tar of layers) {
      if (tar === null) {
        descriptors.push(foreign);
        diffIds.push(digestOf("the foreign layer's tar"));
        continue;
      }
      const gz = gzipSync(tar);
      await pushBlob(server, repo, gz);
      descriptors.push({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf(gz), size: gz.length });
      diffIds.push(digestOf(tar));
    }
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: diffIds } }));
    await pushBlob(server, repo, config);
    await pushManifest(server, repo, "1", { schemaVersion: 2, mediaType: ociManifest, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: config.length }, layers: descriptors }, ociManifest);
  }

  before(async () => {
    server = await startTestServer();
    await image("base", [await makeTar([{ name: "etc/base", content: "base" }])]);
    await image("section", [await makeTar([{ name: "etc/base", content: "base" }]), null, await makeTar([{ name: "opt/tool", content: "tool" }])]);
  });
  after(() => server?.close());

  it("validate checks the rest and notes the layer it cannot read", async () => {
    const text = await lading("validate", ref("section:1"));
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /^note: sha256:[0-9a-f]{12}: layer 1 sha256:[0-9a-f]{64} is non-distributable .*not checked$/m);
    const json = await ladingJson<{ problems: unknown[]; notes: { layer: number }[] }>("validate", ref("section:1"));
    assert.deepEqual(json.problems, []);
    assert.deepEqual(json.notes.map((n) => n.layer), [1]);
  });

  it("merge merges it, noting the layer it could not check for conflicts", async () => {
    const merged = await lading("merge", ref("base:1"), ref("section:1"), "--tag", ref("merged:1"));
    assert.equal(merged.code, 0, merged.stderr);
    assert.match(merged.stdout, /^ {2}layer {2}1 [0-9a-f]{12} .* section +foreign$/m);
    assert.match(merged.stdout, /note: section section: \S+section:1 layer 1 \(sha256:[0-9a-f]{64}\) is non-distributable .*not checked for conflicts/);
  });

  it("mutate and append write images that keep it where its URLs point", async () => {
    const mutated = await lading("mutate", ref("section:1"), "--tag", ref("mutated:1"), "--env", "A=1");
    assert.equal(mutated.code, 0, mutated.stderr);
    const dir = await mkdtemp(join(tmpdir(), "foreign-append-"));
    await writeFile(join(dir, "added.txt"), "added\n");
    const appended = await lading("append", ref("section:1"), dir, "--tag", ref("appended:1"));
    await rm(dir, { recursive: true });
    assert.equal(appended.code, 0, appended.stderr);
    for (const image of ["mutated:1", "appended:1"]) {
      const layers = (JSON.parse((await lading("manifest", ref(image))).stdout) as { layers: unknown[] }).layers;
      assert.deepEqual(layers[1], foreign, `${image} keeps the foreign layer's descriptor, URLs and all`);
    }
  });

  it("flatten and export say which layer they cannot read, and why", async () => {
    for (const command of [["flatten", ref("section:1"), "--tag", ref("flat:1")], ["export", ref("section:1"), "-o", "/dev/null"]]) {
      const r = await lading(...command);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, /^lading: \S+section:1 layer 1 \(sha256:[0-9a-f]{64}\) is non-distributable .*its files cannot be read/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
    }
  });
});
