import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PendingPaths } from "../../src/storage/fs/pending.js";

/** An application the test settles when it likes. */
function application(): { done: Promise<void>; apply: () => void; fail: () => void } {
  let apply!: () => void;
  let fail!: () => void;
  const done = new Promise<void>((resolve, reject) => {
    apply = resolve;
    fail = () => reject(new Error("applying failed"));
  });
  return { done, apply, fail };
}

/** Whether `p` has settled once the microtasks queued so far have run. */
async function settledNow(p: Promise<unknown> | undefined): Promise<boolean> {
  if (p === undefined) return true;
  let settled = false;
  void p.then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  return settled;
}

describe("pending applications by path", () => {
  it("makes a read of a path, of a path below it, and of a directory above it (beneath) wait", async () => {
    const pending = new PendingPaths();
    assert.equal(pending.wait("/a/b/c"), undefined);
    const op = application();
    pending.add(["/r/a/x", "/r/b/y"], op.done);
    for (const [path, beneath] of [["/r/a/x", false], ["/r/a/x/z", false], ["/r/b/y", false], ["/r/b", true], ["/r/a", true], ["/r", true], ["/", true]] as const) {
      assert.equal(await settledNow(pending.wait(path, beneath)), false, `${path}${beneath ? " (beneath)" : ""} waits`);
    }
    for (const [path, beneath] of [["/r/b", false], ["/r", false], ["/r/c", true], ["/q/a/x", false]] as const) {
      assert.equal(pending.wait(path, beneath), undefined, `${path}${beneath ? " (beneath)" : ""} does not wait`);
    }
    const read = pending.wait("/r/b", true);
    op.apply();
    assert.equal(await settledNow(read), true);
    assert.equal(pending.wait("/r/a/x"), undefined);
    assert.equal(pending.size, 0);
    assert.equal(pending.entries, 0, "everything is dropped once nothing is pending");
  });

  it("waits for the last operation on a path, and counts a failed one as settled", async () => {
    const pending = new PendingPaths();
    const first = application();
    const second = application();
    pending.add(["/d/link"], first.done);
    pending.add(["/d/link"], second.done);
    const read = pending.wait("/d/link");
    first.apply();
    assert.equal(await settledNow(read), false, "the second operation is still pending");
    second.fail();
    assert.equal(await settledNow(read), true);
    await pending.all();
    assert.equal(pending.size, 0);
  });

  it("makes a read beneath a directory wait for the last operation below it, not the first", async () => {
    const pending = new PendingPaths();
    const first = application();
    const second = application();
    pending.add(["/r/a/x"], first.done);
    pending.add(["/r/a/y"], second.done);
    first.apply();
    assert.equal(await settledNow(pending.wait("/r", true)), false);
    assert.equal(await settledNow(pending.wait("/r/a", true)), false);
    assert.equal(pending.wait("/r/a/x"), undefined);
    second.apply();
    await pending.all();
  });

  it("keeps its bookkeeping bounded while some operation is always pending, and what is pending waited for", async () => {
    const pending = new PendingPaths();
    const stuck = application();
    pending.add(["/stuck/dir/link"], stuck.done);
    let most = 0;
    for (let i = 0; i < 20_000; i++) {
      const op = application();
      pending.add([`/repos/r${i}/_manifests/revisions/sha256/${i}/link`], op.done);
      op.apply();
      if (i % 100 === 99) await settledNow(undefined);
      most = Math.max(most, pending.entries);
    }
    await settledNow(undefined);
    assert.equal(pending.size, 1);
    assert.ok(most < 3 * 8192, `at most ${most} entries`);
    assert.equal(await settledNow(pending.wait("/stuck", true)), false, "the stuck operation survives every sweep");
    assert.equal(pending.wait("/repos/r5/_manifests", true), undefined, "applied operations are not waited for");
    const all = pending.all();
    stuck.apply();
    await all;
    assert.equal(pending.entries, 0);
  });
});
