import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { layerCount } from "../../src/image/history.js";
import { rebaseConfig } from "../../src/image/rebase.js";
import { image } from "./fixtures.js";

describe("rebaseConfig", () => {
  const oldBase = image("old", ["o1", { empty: "ENV A=1" }, "o2"]);
  const newBase = image("new", ["n1", "n2", { empty: "CMD sh" }, "n3"]);
  const app = image("app", ["o1", { empty: "ENV A=1" }, "o2", { empty: "ENV APP=1" }, "a1", "a2"], { Env: ["A=1", "APP=1"], Cmd: ["run"] });

  it("swaps OLD's diff_ids and history for NEW's and keeps the image's own, in order", () => {
    const c = rebaseConfig(app.config, oldBase.config, newBase.config);
    assert.deepEqual(c.rootfs.diff_ids, [...newBase.config.rootfs.diff_ids, ...app.config.rootfs.diff_ids.slice(2)]);
    assert.deepEqual(c.history!.map((h) => h.created_by), ["ADD n1", "ADD n2", "CMD sh", "ADD n3", "ENV APP=1", "ADD a1", "ADD a2"]);
    assert.equal(layerCount(c.history!), c.rootfs.diff_ids.length);
  });
  it("keeps the image's runtime config and created time unless a timestamp is given", () => {
    const c = rebaseConfig({ ...app.config, created: "2020-01-01T00:00:00Z" }, oldBase.config, newBase.config);
    assert.deepEqual(c.config, { Env: ["A=1", "APP=1"], Cmd: ["run"] });
    assert.equal(c.created, "2020-01-01T00:00:00Z");
    assert.equal(rebaseConfig(app.config, oldBase.config, newBase.config, "2024-01-01T00:00:00Z").created, "2024-01-01T00:00:00Z");
  });
  it("gives NEW layers without history synthetic entries, so history and diff_ids stay aligned", () => {
    const bare = structuredClone(newBase.config);
    delete bare.history;
    const c = rebaseConfig(app.config, oldBase.config, bare);
    assert.equal(layerCount(c.history!), c.rootfs.diff_ids.length);
    assert.match(c.history![0]!.created_by!, /no history recorded/);
  });
});
