import { spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { ConflictAnalyzer } from "../../src/image/conflicts.js";
import { layerHeaders, type TarHeader } from "../../src/image/layer-reader.js";

type Item = string | { dir: string } | { link: string; to: string };

/** A real tar layer built in memory: names ending in / are directories. */
async function layer(items: Item[], compress = true): Promise<Buffer> {
  const pack = tar.pack();
  for (const item of items) {
    if (typeof item === "string") {
      if (item.endsWith("/")) pack.entry({ name: item, type: "directory", mode: 0o755 });
      else pack.entry({ name: item, mode: 0o644 }, `content of ${item}`);
    } else if ("dir" in item) pack.entry({ name: item.dir, type: "directory" });
    else pack.entry({ name: item.link, type: "symlink", linkname: item.to });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  return compress ? gzipSync(raw) : raw;
}

async function headers(data: Buffer): Promise<TarHeader[]> {
  const out: TarHeader[] = [];
  for await (const h of layerHeaders(Readable.from([data]))) out.push(h);
  return out;
}

async function analyse(sections: Record<string, Item[][]>) {
  const a = new ConflictAnalyzer();
  for (const [label, layers] of Object.entries(sections)) {
    const s = a.section(label);
    for (const l of layers) s.layer(await headers(await layer(l)));
  }
  return a.conflicts();
}

describe("layer tar headers", () => {
  it("streams headers of gzip and plain layers, normalizing paths", async () => {
    const items: Item[] = ["./usr/", "./usr/bin/go", { link: "usr/bin/gofmt", to: "go" }];
    for (const compress of [true, false]) {
      const hs = await headers(await layer(items, compress));
      assert.deepEqual(hs.map((h) => [h.path, h.type]), [["usr", "directory"], ["usr/bin/go", "file"], ["usr/bin/gofmt", "symlink"]]);
      assert.equal(hs[1]!.size, "content of ./usr/bin/go".length);
    }
  });
  it("streams headers of zstd layers (compressed by the zstd tool, in several frames' worth of chunks)", async () => {
    const items: Item[] = ["./usr/", "./usr/bin/go", { link: "usr/bin/gofmt", to: "go" }];
    const made = spawnSync("zstd", ["-c", "-q"], { input: await layer(items, false) });
    assert.equal(made.status, 0, String(made.stderr));
    const compressed = made.stdout;
    const chunked = Array.from({ length: Math.ceil(compressed.length / 7) }, (_, i) => compressed.subarray(i * 7, i * 7 + 7));
    const hs: TarHeader[] = [];
    for await (const h of layerHeaders(Readable.from(chunked))) hs.push(h);
    assert.deepEqual(hs.map((h) => [h.path, h.type]), [["usr", "directory"], ["usr/bin/go", "file"], ["usr/bin/gofmt", "symlink"]]);
  });
  it("reports a corrupt zstd layer clearly", async () => {
    const zstd = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]);
    await assert.rejects(headers(zstd), /its zstd stream ends early \(the layer is truncated\)/);
  });
});

describe("conflict analysis", () => {
  it("finds nothing when sections touch different files (shared directories are fine)", async () => {
    assert.deepEqual(await analyse({ maven: [["usr/", "usr/share/maven/mvn"]], golang: [["usr/", "usr/local/go/bin/go"], ["go/src/x"]] }), []);
  });
  it("reports a path written by two sections, noting identical headers", async () => {
    const c = await analyse({ maven: [["usr/bin/tool"]], golang: [["usr/bin/tool"]] });
    assert.equal(c.length, 1);
    assert.deepEqual({ ...c[0], message: undefined }, { kind: "overlap", path: "/usr/bin/tool", sections: ["maven", "golang"], identical: true, message: undefined });
    assert.match(c[0]!.message, /golang's version wins/);
  });
  it("flags package databases and linker caches specially", async () => {
    const c = await analyse({ maven: [["var/lib/dpkg/status", "/etc/ld.so.cache"]], golang: [["var/lib/dpkg/status", "/etc/ld.so.cache"]] });
    assert.deepEqual(c.map((x) => [x.kind, x.path]), [["package-db", "/etc/ld.so.cache"], ["package-db", "/var/lib/dpkg/status"]]);
    assert.match(c[1]!.message, /dpkg database.*only golang's copy/);
  });
  it("reports a whiteout in a later section hiding an earlier section's files", async () => {
    const c = await analyse({ maven: [["opt/tools/mvn"]], golang: [["opt/.wh.tools"]] });
    assert.deepEqual(c.map((x) => [x.kind, x.path, x.sections]), [["whiteout", "/opt/tools", ["maven", "golang"]]]);
    assert.match(c[0]!.message, /golang deletes \/opt\/tools, hiding 1 path\(s\) maven wrote/);
  });
  it("reports an opaque directory hiding an earlier section's files", async () => {
    const c = await analyse({ maven: [["etc/conf.d/maven"]], golang: [["etc/conf.d/", "etc/conf.d/.wh..wh..opq", "etc/conf.d/go"]] });
    assert.deepEqual(c.map((x) => [x.kind, x.path]), [["opaque", "/etc/conf.d"]]);
  });
  it("applies a section's own whiteouts to its earlier layers only", async () => {
    // maven adds then deletes tmp/build; golang writes tmp/build: no overlap remains.
    assert.deepEqual(await analyse({ maven: [["tmp/build"], ["tmp/.wh.build"]], golang: [["tmp/build"]] }), []);
    // A whiteout and a file in the same layer: the file survives (whiteouts hide lower layers only).
    const c = await analyse({ a: [["x/.wh.f", "x/f"]], b: [["x/f"]] });
    assert.deepEqual(c.map((x) => x.kind), ["overlap"]);
  });
  it("reports a directory in one section where another wrote a file", async () => {
    const c = await analyse({ a: [["srv"]], b: [["srv/", "srv/index"]] });
    assert.equal(c[0]!.kind, "overlap");
    assert.match(c[0]!.message, /b makes \/srv a directory where a wrote a file/);
  });
});
