import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Applier } from "../../src/storage/fs/applier.js";

const threads = async () => (await readdir("/proc/self/task")).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the apply worker", () => {
  const roots: string[] = [];
  after(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

  /** An applier (idle after 50 ms) over a fresh directory, or `below` it, and the warnings it gives. */
  async function fresh(...below: string[]) {
    const top = await mkdtemp(join(tmpdir(), "lading-applier-"));
    roots.push(top);
    const root = join(top, ...below);
    const warnings: string[] = [];
    const applier = new Applier({ root, scratch: join(root, ".lading-tmp"), nice: 0 }, 50, (m) => warnings.push(m));
    return { root, applier, warnings };
  }

  it("applies in order, stops its thread once idle, and starts again for the next job", async () => {
    const { root, applier } = await fresh();
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

  it("writes into more directories than its heap could remember (a long-running server's)", async () => {
    // Paths of 3,000 characters: 8,000 directories are 24 MB of strings, more than the worker's
    // heap; a worker that kept every directory it made ran out of memory.
    const { root, applier } = await fresh(...Array.from({ length: 12 }, () => "r".repeat(250)));
    const content = Buffer.from("x");
    for (let i = 0; i < 8_000; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => applier.apply([{ op: "put", path: `/t${i + j}/link`, content }])));
    }
    assert.equal((await readdir(root)).length, 8_000);
    await applier.close();
  });

  it("replaces a worker that died on a batch, and applies the batch's jobs again one by one", async () => {
    const { root, applier, warnings } = await fresh();
    // Twelve paths of 2 MiB are more than the worker's heap as one message, and one fits.
    const huge = (i: number) => `/${String(i % 10).repeat(2 << 20)}`;
    const content = Buffer.from("x");
    const results = await Promise.allSettled([
      applier.apply([{ op: "put", path: "/before/link", content }]),
      ...Array.from({ length: 12 }, (_, i) => applier.apply([{ op: "put", path: huge(i), content }])),
      applier.apply([{ op: "put", path: "/after/link", content }]),
    ]);
    assert.deepEqual(
      results.map((r) => (r.status === "fulfilled" ? "applied" : (r.reason as { code?: string }).code)),
      ["applied", ...Array<string>(12).fill("ENAMETOOLONG"), "applied"],
      "each job's own outcome, as if no worker had died",
    );
    assert.equal(await readFile(join(root, "before/link"), "utf8"), "x");
    assert.equal(await readFile(join(root, "after/link"), "utf8"), "x");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /apply worker died .*memory.*applying its 14 job/);
    await applier.apply([{ op: "put", path: "/later/link", content }]);
    assert.equal(await readFile(join(root, "later/link"), "utf8"), "x");
    await applier.close();
  });

  it("stops when a fresh worker dies on a job alone", async () => {
    const { applier, warnings } = await fresh();
    const content = Buffer.from("x");
    await assert.rejects(applier.apply([{ op: "put", path: `/${"x".repeat(24 << 20)}`, content }]), /memory/);
    await assert.rejects(applier.apply([{ op: "put", path: "/next/link", content }]), /memory/, "later jobs are refused");
    assert.equal(warnings.length, 2);
    assert.match(warnings[1]!, /no further writes are applied until a restart/);
    await applier.close();
  });
});
