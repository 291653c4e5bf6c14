/**
 * The one layer reader, over tars as the real tools write them (GNU tar in each of its formats,
 * umoci's unterminated ones, hand-made edge cases) and over broken ones: what it reads, it reads
 * as Go's archive/tar does; what it refuses, it says why in words, the same for every image tool.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile, mkdir, symlink, link, open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { gzipSync, zstdCompressSync } from "node:zlib";
import tar from "tar-stream";
import { flattenLayers } from "../../src/image/flatten-fs.js";
import { layerHeaders, readLayer, type TarHeader } from "../../src/image/layer-reader.js";
import { makeTar, readTar } from "./tar-fixtures.js";

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const headers = async (b: Buffer): Promise<TarHeader[]> => {
  const out: TarHeader[] = [];
  for await (const h of layerHeaders(Readable.from([b]))) out.push(h);
  return out;
};
async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}
const flattened = (layers: Buffer[]) => readTar(flattenLayers((i) => Readable.from([layers[i]!]), layers.length));

/** The bytes of a tar without its end-of-archive blocks, and without the last entry's padding too. */
function unterminated(whole: Buffer, lastContentEnd: number): { noEnd: Buffer; noPadding: Buffer } {
  const padded = Math.ceil(lastContentEnd / 512) * 512;
  return { noEnd: whole.subarray(0, padded), noPadding: whole.subarray(0, lastContentEnd) };
}

describe("layer reader", () => {
  let dir: string;
  /** GNU tar over a small tree with every kind of entry a user may make. */
  const gnuTar = (format: string, ...extra: string[]) => execFileSync("tar", ["-C", path.join(dir, "tree"), `--format=${format}`, "--owner=0", "--group=0", "--mtime=@0", ...extra, "-cf", "-", "."], { maxBuffer: 64 << 20 });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "layer-reader-"));
    const tree = path.join(dir, "tree");
    const long = "d".repeat(90);
    await mkdir(path.join(tree, long, long), { recursive: true });
    await writeFile(path.join(tree, long, long, "deep.txt"), "deep");
    await writeFile(path.join(tree, "file.txt"), "hello");
    await link(path.join(tree, "file.txt"), path.join(tree, "hard.txt"));
    await symlink(`${long}/${long}/deep.txt`, path.join(tree, "long-link"));
    const sparse = await open(path.join(tree, "sparse.bin"), "w");
    await sparse.write("end", 4 << 20);
    await sparse.close();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  for (const format of ["gnu", "posix", "ustar", "v7"]) {
    it(`reads GNU tar's ${format} format: long names and link names, hard and symbolic links`, async () => {
      if (format === "ustar" || format === "v7") {
        // These formats cannot hold 180-byte names: GNU tar leaves those entries out with a complaint.
        const bytes = execFileSync("tar", ["-C", path.join(dir, "tree"), `--format=${format}`, "--mtime=@0", "-cf", "-", "file.txt", "hard.txt"]);
        const hs = await headers(bytes);
        assert.deepEqual(hs.map((h) => [h.path, h.type]), [["file.txt", "file"], ["hard.txt", "link"]]);
        assert.equal((await readLayer(Readable.from([bytes]))).diffId, sha(bytes));
        return;
      }
      const bytes = gnuTar(format);
      const hs = await headers(bytes);
      const long = "d".repeat(90);
      const byPath = new Map(hs.map((h) => [h.path, h]));
      assert.equal(byPath.get(`${long}/${long}/deep.txt`)?.size, 4);
      assert.equal(byPath.get("long-link")?.linkname, `${long}/${long}/deep.txt`);
      const hard = [byPath.get("hard.txt"), byPath.get("file.txt")].find((h) => h?.type === "link");
      assert.ok(hard?.linkname === "./file.txt" || hard?.linkname === "./hard.txt", JSON.stringify(hard));
      assert.equal((await readLayer(Readable.from([bytes]))).diffId, sha(bytes));
      const files = await flattened([gzipSync(bytes)]);
      assert.ok(files.some((f) => f.name === `${long}/${long}/deep.txt` && f.content === "deep"));
    });
  }

  it("reads a PAX sparse file by its real name and size, and flatten keeps it sparse and whole", async () => {
    const bytes = gnuTar("posix", "--sparse");
    const sparse = (await headers(bytes)).find((h) => h.path === "sparse.bin");
    assert.equal(sparse?.size, (4 << 20) + 3);
    const out = path.join(dir, "flat.tar");
    const flat = await collect(flattenLayers(() => Readable.from([bytes]), 1));
    await writeFile(out, flat);
    const back = path.join(dir, "back");
    await mkdir(back);
    execFileSync("tar", ["-C", back, "-xf", out]);
    const content = await readFile(path.join(back, "sparse.bin"));
    assert.equal(content.length, (4 << 20) + 3);
    assert.equal(content.subarray(-3).toString(), "end");
  });

  it("reads an old GNU sparse file (GNU tar --sparse in its own format) as Go does: its real size, holes as zeros", async () => {
    const bytes = gnuTar("gnu", "--sparse");
    const sparse = (await headers(bytes)).find((h) => h.path === "sparse.bin");
    assert.deepEqual([sparse?.type, sparse?.size], ["file", (4 << 20) + 3]);
    assert.equal((await readLayer(Readable.from([bytes]))).diffId, sha(bytes));
    const out = path.join(dir, "flat-gnu.tar");
    await writeFile(out, await collect(flattenLayers(() => Readable.from([gzipSync(bytes)]), 1)));
    const back = path.join(dir, "back-gnu");
    await mkdir(back);
    execFileSync("tar", ["-C", back, "-xf", out]);
    const content = await readFile(path.join(back, "sparse.bin"));
    assert.equal(content.length, (4 << 20) + 3);
    assert.ok(content.subarray(0, 4 << 20).equals(Buffer.alloc(4 << 20)), "the hole reads as zeros");
    assert.equal(content.subarray(-3).toString(), "end");
  });

  it("reads an old GNU sparse file whose map goes on in extension blocks (one and two of them) as Go does", async () => {
    for (const segments of [6, 30]) {
      const tree = path.join(dir, `many-${segments}`);
      await mkdir(tree);
      const file = await open(path.join(tree, "holes.bin"), "w");
      for (let i = 1; i <= segments; i++) await file.write(`data ${i}`, i << 20);
      await file.close();
      const original = await readFile(path.join(tree, "holes.bin"));
      await writeFile(path.join(tree, "after.txt"), "after");
      const both = execFileSync("tar", ["-C", tree, "--format=gnu", "--sparse", "-cf", "-", "holes.bin", "after.txt"], { maxBuffer: 64 << 20 });
      assert.equal(both[156], "S".charCodeAt(0), "GNU tar wrote an old GNU sparse entry");
      assert.notEqual(both[482], 0, "its map goes on in an extension block");
      assert.deepEqual((await headers(both)).map((h) => [h.path, h.type, h.size]), [["holes.bin", "file", original.length], ["after.txt", "file", 5]]);
      assert.equal((await readLayer(Readable.from([both]))).diffId, sha(both));
      const files = await flattened([gzipSync(both)]);
      assert.ok(files.find((f) => f.name === "holes.bin")?.content === original.toString(), `${segments} segments in place, holes as zeros`);
      assert.equal(files.find((f) => f.name === "after.txt")?.content, "after", "the entry after the extension blocks reads whole");
    }
  });

  it("refuses an entry type no runtime unpacks, naming it", async () => {
    const whole = Buffer.from(await makeTar([{ name: "odd", content: "x" }]));
    whole[156] = "Z".charCodeAt(0);
    let sum = 0;
    whole.fill(" ", 148, 156);
    for (let i = 0; i < 512; i++) sum += whole[i]!;
    whole.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    await assert.rejects(headers(whole), /entry odd has a tar entry type \("Z"\) that no runtime unpacks/);
  });

  it("reads device nodes, fifos and xattrs (PAX records), and flatten writes them back", async () => {
    const pack = tar.pack();
    const mtime = new Date(0);
    pack.entry({ name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666, mtime });
    pack.entry({ name: "dev/loop0", type: "block-device", devmajor: 7, devminor: 0, mode: 0o660, mtime });
    pack.entry({ name: "run/fifo", type: "fifo", mode: 0o600, mtime });
    pack.entry({ name: "bin/ping", mode: 0o755, mtime, pax: { "SCHILY.xattr.security.capability": "caps" } } as tar.Header & { pax: Record<string, string> }, "ping");
    pack.finalize();
    const bytes = await collect(pack as AsyncIterable<Uint8Array>);
    assert.deepEqual((await headers(bytes)).map((h) => [h.path, h.type]), [["dev/null", "character-device"], ["dev/loop0", "block-device"], ["run/fifo", "fifo"], ["bin/ping", "file"]]);
    const extract = tar.extract();
    Readable.from(flattenLayers(() => Readable.from([bytes]), 1)).pipe(extract as unknown as NodeJS.WritableStream);
    const seen: Record<string, unknown> = {};
    for await (const e of extract) {
      seen[e.header.name] = { type: e.header.type, dev: [e.header.devmajor, e.header.devminor], pax: (e.header as { pax?: unknown }).pax ?? undefined };
      e.resume();
    }
    assert.deepEqual(seen["dev/null"], { type: "character-device", dev: [1, 3], pax: undefined });
    assert.equal((seen["bin/ping"] as { pax: Record<string, string> }).pax["SCHILY.xattr.security.capability"], "caps");
  });

  it("reads tars that end without end-of-archive blocks, or without the last entry's padding (as umoci insert writes them), as Go does", async () => {
    const whole = await makeTar([{ name: "a.txt", content: "a" }, { name: "b.txt", content: "bbb" }]);
    const { noEnd, noPadding } = unterminated(whole, 512 * 3 + 3);
    // Go takes a padding that the input cuts short for the end, as it does a missing one (tryReadFull).
    const partialPadding = whole.subarray(0, 512 * 3 + 100);
    for (const [what, bytes] of [["no end blocks", noEnd], ["no padding", noPadding], ["part of the padding", partialPadding]] as const) {
      for (const [how, layer] of [["plain", bytes], ["gzip", gzipSync(bytes)], ["zstd", zstdCompressSync(bytes)]] as const) {
        assert.deepEqual((await headers(layer)).map((h) => h.path), ["a.txt", "b.txt"], `${what}, ${how}`);
        assert.equal((await readLayer(Readable.from([layer]))).diffId, sha(bytes), `${what}, ${how}`);
      }
      const files = await flattened([bytes]);
      assert.deepEqual(files.map((f) => [f.name, f.content]), [["a.txt", "a"], ["b.txt", "bbb"]]);
    }
  });

  it("stops at the end-of-archive blocks as Go does: what follows them is hashed, never parsed", async () => {
    const whole = await makeTar([{ name: "a.txt", content: "a" }]);
    const withTrailer = Buffer.concat([whole, Buffer.from("not a tar header, and more than a block of it ".repeat(20))]);
    assert.deepEqual((await headers(withTrailer)).map((h) => h.path), ["a.txt"]);
    assert.equal((await readLayer(Readable.from([gzipSync(withTrailer)]))).diffId, sha(withTrailer));
    assert.deepEqual((await flattened([withTrailer])).map((f) => f.name), ["a.txt"]);
  });

  it("reads no content for links, as Go does, whatever their size field says", async () => {
    const whole = Buffer.from(await makeTar([{ name: "link", symlink: "a.txt" }, { name: "a.txt", content: "a" }]));
    whole.write("00000000005\0", 124, "latin1");
    whole.fill(" ", 148, 156);
    const sum = whole.subarray(0, 512).reduce((n, b) => n + b, 0);
    whole.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    assert.deepEqual((await headers(whole)).map((h) => [h.path, h.type, h.size]), [["link", "symlink", 0], ["a.txt", "file", 1]]);
    assert.equal((await readLayer(Readable.from([whole]))).entries, 2);
  });

  it("refuses what Go refuses, in words: a tar cut inside an entry or a header, entries after a zero block, a file that is no tar, broken compression", async () => {
    const whole = await makeTar([{ name: "a.txt", content: "a".repeat(1000) }]);
    const cases: [string, Buffer, RegExp][] = [
      ["cut inside the content", whole.subarray(0, 512 + 600), /its tar ends in the middle of an entry \(the layer is truncated\)/],
      ["an entry after a block of zeros", Buffer.concat([whole.subarray(0, 512 * 3), Buffer.alloc(512), whole.subarray(0, 512 * 3)]), /its tar has entries after a block of zeros, which ends an archive/],
      ["cut inside a header", whole.subarray(0, 300), /its tar ends in the middle of an entry/],
      ["not a tar", Buffer.from("this is not a tar archive at all ".repeat(40)), /it is not a tar archive \(a header's checksum does not match\)/],
      ["a truncated gzip", gzipSync(whole).subarray(0, 40), /its gzip stream ends early \(the layer is truncated\)/],
      ["a corrupt gzip", Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(100, 0xff)]), /its gzip stream is corrupt/],
      ["a corrupt zstd", Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100, 0xff)]), /its zstd stream is corrupt/],
    ];
    for (const [what, bytes, message] of cases) {
      await assert.rejects(headers(bytes), message, what);
      await assert.rejects(readLayer(Readable.from([bytes])), message, what);
      await assert.rejects(flattened([bytes]), (err: Error) => message.test(err.message) && err.message.startsWith("layer 0: "), what);
    }
  });
});
