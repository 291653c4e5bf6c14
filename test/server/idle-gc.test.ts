import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { IdleCollector } from "../../src/server/idle-gc.js";

/** A collector over a simulated heap: `heap.used` is what it reads, a collection brings it to `heap.live`. */
function harness() {
  const heap = { used: 10 << 20, live: 10 << 20, collections: 0 };
  const collector = new IdleCollector({
    quietMs: 20,
    minGrowthBytes: 4 << 20,
    heapUsed: () => heap.used,
    collect: () => {
      heap.collections++;
      heap.used = heap.live;
    },
  });
  return { heap, collector };
}

describe("idle collection", () => {
  it("collects once the last request has been quiet for the quiet period, when the heap grew enough", async () => {
    const { heap, collector } = harness();
    collector.begin();
    heap.used += 8 << 20;
    collector.end();
    await sleep(60);
    assert.equal(heap.collections, 1);
    assert.equal(heap.used, heap.live);
    await sleep(60);
    assert.equal(heap.collections, 1, "no second collection without new growth");
    collector.stop();
  });

  it("waits while a request is in flight, and restarts the quiet period with each request that ends", async () => {
    const { heap, collector } = harness();
    collector.begin();
    collector.begin();
    heap.used += 8 << 20;
    collector.end();
    await sleep(60);
    assert.equal(heap.collections, 0, "collected with a request in flight");
    collector.end();
    for (let i = 0; i < 5; i++) {
      await sleep(10);
      collector.begin();
      collector.end();
    }
    assert.equal(heap.collections, 0, "collected before the server went quiet");
    await sleep(60);
    assert.equal(heap.collections, 1);
    collector.stop();
  });

  it("does not collect for a small growth, and takes a lower heap (V8's own collection) as the new baseline", async () => {
    const { heap, collector } = harness();
    collector.begin();
    heap.used += 1 << 20;
    collector.end();
    await sleep(60);
    assert.equal(heap.collections, 0);
    heap.used = 6 << 20;
    collector.begin();
    collector.end();
    await sleep(60);
    heap.used += 5 << 20;
    collector.begin();
    collector.end();
    await sleep(60);
    assert.equal(heap.collections, 1, "growth from the lower baseline was not collected");
    collector.stop();
  });

  it("collects the real heap by default", async () => {
    const collector = new IdleCollector({ quietMs: 10, minGrowthBytes: 1 });
    let garbage: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `x${i}` }));
    const before = process.memoryUsage().heapUsed;
    garbage = undefined;
    collector.begin();
    collector.end();
    await sleep(80);
    assert.equal(garbage, undefined);
    assert.ok(process.memoryUsage().heapUsed < before, "the heap did not shrink after the quiet period");
    collector.stop();
  });
});
