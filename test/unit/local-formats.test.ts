import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createWriteStream } from "node:fs";
import { after, before, describe, it } from "node:test";
import { archivePath, extractArchive, packArchive, selectEntry } from "../../src/image/docker-archive.js";
import { parseLocalRef } from "../../src/image/local-ref.js";
import { OciLayout } from "../../src/image/oci-layout.js";
import { makeTar } from "./tar-fixtures.js";

const sha256 = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe("local image references", () => {
  it("parses skopeo-style names and bare paths", () => {
    assert.deepEqual(parseLocalRef("oci:/tmp/l:v1"), { format: "oci-layout", path: "/tmp/l", name: "v1" });
    assert.deepEqual(parseLocalRef("oci:/tmp/l"), { format: "oci-layout", path: "/tmp/l" });
    assert.deepEqual(parseLocalRef("docker-archive:/tmp/a.tar:example/app:1"), { format: "docker-archive", path: "/tmp/a.tar", name: "example/app:1" });
    assert.deepEqual(parseLocalRef("out.tar"), { format: "docker-archive", path: "out.tar" });
    assert.deepEqual(parseLocalRef("dir"), { format: "oci-layout", path: "dir" });
    assert.deepEqual(parseLocalRef("dir.tar", "oci-layout"), { format: "oci-layout", path: "dir.tar" });
    assert.throws(() => parseLocalRef("oci:x", "docker-archive"), /--format says docker-archive/);
  });
});

describe("OCI layout and docker archive files", () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(os.tmpdir(), "lading-unit-local-"))));
  after(async () => rm(dir, { recursive: true, force: true }));

  it("writes verified blobs and names images in index.json", async () => {
    const layout = await OciLayout.create(join(dir, "layout"));
    const body = Buffer.from("hello blob");
    await layout.writeBlob(sha256(body), body.length, Readable.from([body]));
    assert.ok(await layout.hasBlob(sha256(body), body.length));
    await assert.rejects(layout.writeBlob(sha256("other"), 5, Readable.from([Buffer.from("wrong")])), /digest mismatch/);
    assert.equal(await layout.hasBlob(sha256("other"), 5), false);
    const d = { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256(body), size: body.length };
    await layout.setTag("v1", d);
    await layout.setTag("v1", d);
    await layout.setTag("v2", d);
    assert.equal((await layout.index()).manifests.length, 2);
    assert.equal((await layout.resolve("v2")).digest, d.digest);
    await assert.rejects(layout.resolve(undefined), /holds 2 images: name one \(v1, v2\)/);
    assert.ok((await OciLayout.open(join(dir, "layout"))) instanceof OciLayout);
    await assert.rejects(OciLayout.open(dir), /not an OCI image layout/);
  });

  it("round-trips a docker save archive: manifest.json, config bytes, one layer.tar per diff_id", async () => {
    const layer = await makeTar([{ name: "etc/hello", content: "hi" }]);
    const layerFile = join(dir, "layer.tar");
    await writeFile(layerFile, layer);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(layer), sha256(layer)] } }));
    const file = join(dir, "saved.tar");
    const configHex = sha256(config).slice(7);
    await pipeline(packArchive({ configBytes: config, configHex, repoTags: ["example/app:1"], layers: [{ file: layerFile, diffId: sha256(layer) }, { file: layerFile, diffId: sha256(layer) }] }), createWriteStream(file));
    const archive = await extractArchive(file);
    try {
      const entry = selectEntry(archive, "docker.io/example/app:1", file);
      assert.equal(entry.Config, `${configHex}.json`);
      assert.deepEqual(entry.Layers, [`${sha256(layer).slice(7)}/layer.tar`, `${sha256(layer).slice(7)}/layer.tar`]);
      assert.ok((await readFile(archivePath(archive, entry.Config))).equals(config));
      assert.ok((await readFile(archivePath(archive, entry.Layers[0]!))).equals(layer));
      assert.deepEqual(JSON.parse(await readFile(archivePath(archive, "repositories"), "utf8")), { "example/app": { "1": sha256(layer).slice(7) } });
      assert.equal(selectEntry(archive, undefined, file), entry);
      assert.throws(() => selectEntry(archive, "example/other", file), /has no image tagged example\/other/);
      assert.throws(() => archivePath(archive, "../etc/passwd"), /not allowed/);
    } finally {
      await archive.cleanup();
    }
  });
});
