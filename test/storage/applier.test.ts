import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Applier } from "../../src/storage/applier.js";

const threads = async () => (await readdir("/proc/self/task")).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the apply worker", () => {
  const roots: string[] = [];
  after(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

  it("applies in order, stops its thread once idle, and starts again for the next job", async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-applier-"));
    roots.push(root);
    const applier = new Applier({ root, scratch: join(root, ".lading-tmp"), nice: 0 }, 50);
    const idle = await threads();
    await Promise.all([
      applier.apply([{ op: "put", path: "/a/link", content: Buffer.from("1") }]),
      applier.apply([{ op: "put", path: "/a/link", content: Buffer.from("2") }]),
    ]);
    assert.equal(await readFile(join(root, "a/link"), "utf8"), "2", "applied in the order handed over");
    assert.ok((await threads()) > idle, "a worker thread runs");
    for (let i = 0; i < 100 && (await threads()) > idle; i++) await sleep(20);
    assert.equal(await threads(), idle, "the idle worker's thread is gone");
    await applier.apply([{ op: "delete", path: "/a" }]);
    await assert.rejects(readFile(join(root, "a/link")), /ENOENT/);
    await assert.rejects(applier.apply([{ op: "delete", path: "/missing" }]), (err: Error & { code?: string }) => err.code === "ENOENT");
    await applier.close();
    await assert.rejects(applier.apply([{ op: "put", path: "/b", content: Buffer.from("x") }]), /closed/);
  });
});
