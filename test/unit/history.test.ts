import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addedHistory, historyAfter, historyForLayers, historyMismatch, historyPrefixMismatch, layerCount } from "../../src/image/history.js";
import { image } from "./fixtures.js";

describe("history walking", () => {
  const base = image("base", ["a", { empty: "ENV A=1" }, "b", { empty: "CMD sh" }]);
  const section = image("maven", ["a", { empty: "ENV A=1" }, "b", { empty: "CMD sh" }, { empty: "ENV M=1" }, "m1", "m2", { empty: "LABEL x" }]);

  it("maps layers to the non-empty history entries", () => {
    assert.deepEqual(historyForLayers(base.config), [0, 2]);
    assert.deepEqual(historyForLayers(section.config), [0, 2, 5, 6]);
    assert.equal(layerCount(section.config.history!), 4);
  });
  it("detects a history that disagrees with rootfs", () => {
    assert.equal(historyMismatch(section.config), undefined);
    const broken = structuredClone(section.config);
    broken.history![5]!.empty_layer = true;
    assert.match(historyMismatch(broken)!, /3 non-empty entries .* 4 diff_ids/);
  });
  it("finds the section's own entries after the base's, empty ones included", () => {
    const added = addedHistory(base.config, section.config, 2, "maven");
    assert.deepEqual(added.map((h) => h.created_by), ["ENV M=1", "ADD m1", "ADD m2", "LABEL x"]);
  });
  it("pads a section without history so every layer keeps an entry", () => {
    const bare = structuredClone(section.config);
    delete bare.history;
    const added = addedHistory(base.config, bare, 2, "maven");
    assert.equal(layerCount(added), 2);
  });
  it("walks past the base's layers when the base has no history", () => {
    const h = section.config.history!;
    assert.deepEqual(historyAfter(h, [], 2).map((e) => e.created_by), ["CMD sh", "ENV M=1", "ADD m1", "ADD m2", "LABEL x"]);
  });
  it("reports the first history entry that differs", () => {
    const other = image("x", ["a", { empty: "ENV A=2" }, "b"]);
    assert.deepEqual(historyPrefixMismatch(base.config.history!, other.config.history!), {
      index: 1,
      base: '"ENV A=1"',
      section: '"ENV A=2"',
    });
    assert.equal(historyPrefixMismatch(base.config.history!, section.config.history!), undefined);
  });
});
