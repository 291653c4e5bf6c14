import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { byKey, keyBytes, Lru } from "../../src/registry/lru.js";

describe("Lru", () => {
  it("forgets the oldest entry not used since it was stored, once over its weight", () => {
    const lru = new Lru<string, number>(3);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.set("c", 3);
    assert.equal(lru.get("a"), 1);
    lru.set("d", 4);
    assert.equal(lru.get("b"), undefined, "b was the oldest unused entry");
    assert.deepEqual(["a", "c", "d"].map((k) => lru.get(k)), [1, 3, 4]);
  });

  it("gives a used entry one second chance, then forgets it if unused since", () => {
    const lru = new Lru<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    lru.get("a");
    lru.set("c", 3); // a is spared (and unmarked), b goes
    assert.equal(lru.get("b"), undefined);
    assert.equal(lru.get("c"), 3);
    lru.set("d", 4); // c was used since, a was not since it was spared
    assert.equal(lru.get("a"), undefined);
    assert.equal(lru.get("c"), 3);
    assert.equal(lru.get("d"), 4);
  });

  it("weighs entries, replaces on set, deletes, and refuses what alone is too heavy", () => {
    const lru = new Lru<string, string>(10, (v) => v.length);
    lru.set("a", "xxxx");
    lru.set("b", "yyyy");
    lru.set("a", "zz"); // replaced: weight 6
    lru.set("c", "www"); // 9
    assert.deepEqual(["a", "b", "c"].map((k) => lru.get(k)), ["zz", "yyyy", "www"]);
    lru.set("big", "x".repeat(11));
    assert.equal(lru.get("big"), undefined);
    lru.delete("b"); // 5
    lru.set("d", "vvvvv"); // 10: nothing goes
    assert.deepEqual(["a", "c", "d"].map((k) => lru.get(k)), ["zz", "www", "vvvvv"]);
    lru.set("e", "u"); // 11: a, c, d all used, spared once, and so is e, new; then a goes (oldest)
    assert.equal(lru.get("a"), undefined);
    assert.deepEqual(["c", "d", "e"].map((k) => lru.get(k)), ["www", "vvvvv", "u"]);
  });

  it("weighs an entry by its key too, so a bound in bytes holds whatever the keys' lengths", () => {
    const lru = new Lru<string, true>(3 * keyBytes("k".repeat(20)), byKey);
    for (const n of [1, 2, 3]) lru.set(String(n).repeat(20), true);
    assert.equal(lru.get("1".repeat(20)), true, "three keys of 20 fit");
    lru.set("4".repeat(200), true);
    assert.deepEqual([1, 2, 3].map((n) => lru.get(String(n).repeat(20))), [undefined, undefined, undefined], "a key of 200 leaves no room for one of 20");
    assert.equal(lru.get("4".repeat(200)), true);
  });
});
