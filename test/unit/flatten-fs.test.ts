import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { flattenLayers, type FlattenStats } from "../../src/image/flatten-fs.js";
import { makeTar, readTar, type TarSpec } from "./tar-fixtures.js";

async function flatten(layers: TarSpec[][], gzip = false): Promise<{ files: Map<string, { type: string; content: string; linkname: string | undefined }>; order: string[]; stats: FlattenStats | undefined }> {
  const tars = await Promise.all(layers.map((l) => makeTar(l, gzip)));
  let stats: FlattenStats | undefined;
  const entries = await readTar(flattenLayers((i) => Readable.from([tars[i]!]), tars.length, (s) => (stats = s)));
  return { files: new Map(entries.map((e) => [e.name.replace(/\/$/, ""), e])), order: entries.map((e) => e.name), stats };
}

describe("flattenLayers", () => {
  it("applies whiteouts, opaque directories and later versions; leaves no whiteout files", async () => {
    const { files, stats } = await flatten(
      [
        [{ name: "a", dir: true }, { name: "a/f1", content: "one" }, { name: "a/f2", content: "two" }, { name: "b", content: "bee" }, { name: "c", dir: true }, { name: "c/x", content: "x" }, { name: "keep", content: "k" }],
        [{ name: "a/f1", content: "ONE" }, { name: "a/.wh.f2", content: "" }, { name: ".wh.b", content: "" }, { name: "c/.wh..wh..opq", content: "" }, { name: "c/y", content: "y" }],
      ],
      true,
    );
    assert.deepEqual([...files.keys()].sort(), ["a", "a/f1", "c", "c/y", "keep"]);
    assert.equal(files.get("a/f1")!.content, "ONE");
    assert.equal(files.get("c")!.type, "directory");
    assert.equal(stats!.layers, 2);
    assert.equal(stats!.entries, 5);
  });

  it("a whiteout hides lower layers only, not a file its own layer adds", async () => {
    const { files } = await flatten([[{ name: "f", content: "old" }], [{ name: ".wh.f", content: "" }, { name: "f", content: "new" }]]);
    assert.equal(files.get("f")!.content, "new");
  });

  it("a file replacing a directory hides the directory's contents", async () => {
    const { files } = await flatten([[{ name: "d", dir: true }, { name: "d/inner", content: "i" }], [{ name: "d", content: "now a file" }]]);
    assert.deepEqual([...files.keys()], ["d"]);
    assert.equal(files.get("d")!.type, "file");
  });

  it("deleting a directory removes everything under it, and it can come back later", async () => {
    const { files } = await flatten([
      [{ name: "opt", dir: true }, { name: "opt/app", dir: true }, { name: "opt/app/bin", content: "b" }],
      [{ name: ".wh.opt", content: "" }],
      [{ name: "opt/new", content: "n" }],
    ]);
    assert.deepEqual([...files.keys()], ["opt/new"]);
  });

  it("keeps symlinks and hard links; a link whose target was deleted becomes the file", async () => {
    const { files } = await flatten([
      [{ name: "bin", dir: true }, { name: "bin/tool", content: "T" }, { name: "bin/alias", hardlink: "bin/tool" }, { name: "bin/other", hardlink: "bin/tool" }, { name: "sl", symlink: "bin/tool" }],
      [{ name: "bin/.wh.tool", content: "" }],
    ]);
    assert.equal(files.has("bin/tool"), false);
    assert.equal(files.get("bin/alias")!.type, "file");
    assert.equal(files.get("bin/alias")!.content, "T");
    assert.equal(files.get("bin/other")!.type, "link");
    assert.equal(files.get("bin/other")!.linkname, "bin/alias");
    assert.equal(files.get("sl")!.linkname, "bin/tool");
  });

  it("keeps an intact hard link pointing at its target", async () => {
    const { files } = await flatten([[{ name: "x", content: "X" }, { name: "y", hardlink: "x" }]]);
    assert.equal(files.get("y")!.type, "link");
    assert.equal(files.get("y")!.linkname, "x");
  });
});
