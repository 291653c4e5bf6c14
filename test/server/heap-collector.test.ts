import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { HeapCollector } from "../../src/server/heap-collector.js";

const MiB = 1 << 20;

/**
 * A collector over a simulated heap: `heap.used` is what it reads, a collection brings it to
 * `heap.live`. `request(growth)` is one request that grew the heap by `growth` bytes.
 */
function harness(quietMs = 20) {
  const heap = { used: 10 * MiB, live: 10 * MiB, collections: 0 };
  const collector = new HeapCollector({
    quietMs,
    minGrowthBytes: 4 * MiB,
    maxGrowthBytes: 12 * MiB,
    checkEvery: 4,
    heapUsed: () => heap.used,
    collect: () => {
      heap.collections++;
      heap.used = heap.live;
    },
  });
  const request = (growth = 0) => {
    collector.begin();
    heap.used += growth;
    collector.end();
  };
  return { heap, collector, request };
}

describe("the heap collector", () => {
  it("collects once the last request has been quiet for the quiet period, when the heap grew enough", async () => {
    const { heap, collector, request } = harness();
    request(8 * MiB);
    await sleep(80);
    assert.equal(heap.collections, 1);
    assert.equal(heap.used, heap.live);
    await sleep(80);
    assert.equal(heap.collections, 1, "no second collection without new growth");
    collector.stop();
  });

  it("waits while a request is in flight, and restarts the quiet period with each request that ends", async () => {
    const { heap, collector, request } = harness(200);
    collector.begin();
    request(8 * MiB);
    await sleep(400);
    assert.equal(heap.collections, 0, "collected with a request in flight");
    collector.end();
    // 600 ms of requests, none more than 40 ms after the last: longer than the quiet period in all.
    for (let i = 0; i < 15; i++) {
      await sleep(40);
      request();
    }
    assert.equal(heap.collections, 0, "collected before the server went quiet");
    await sleep(400);
    assert.equal(heap.collections, 1);
    collector.stop();
  });

  it("does not collect for a small growth, and takes a lower heap (V8's own collection) as the new baseline", async () => {
    const { heap, collector, request } = harness();
    request(1 * MiB);
    await sleep(80);
    assert.equal(heap.collections, 0);
    heap.used = 6 * MiB;
    request();
    await sleep(80);
    request(5 * MiB);
    await sleep(80);
    assert.equal(heap.collections, 1, "growth from the lower baseline was not collected");
    collector.stop();
  });

  it("collects while busy, between requests, once the heap grew past the larger bound", async () => {
    const { heap, collector, request } = harness(10_000);
    collector.begin(); // always one in flight: never quiet
    for (let i = 0; i < 8; i++) request(1 * MiB);
    assert.equal(heap.collections, 0, "8 MiB of growth is under the bound");
    for (let i = 0; i < 4; i++) request(1 * MiB);
    assert.equal(heap.collections, 1, "12 MiB of growth, read every fourth request, was not collected");
    assert.equal(heap.used, heap.live);
    for (let i = 0; i < 8; i++) request(1 * MiB);
    assert.equal(heap.collections, 1, "growth is counted from the last collection (8 MiB since)");
    collector.end();
    collector.stop();
  });

  it("collects the real heap by default", async () => {
    const collector = new HeapCollector({ quietMs: 10, minGrowthBytes: 1 });
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

  it("keeps the last request to end alive through a collection, until the next one ends", async () => {
    const collector = new HeapCollector({ quietMs: 10, minGrowthBytes: 0 });
    // Made in a function of its own, and read after a turn of the event loop: a WeakRef keeps its
    // target alive until the end of the job that made or read it.
    const ended = (): WeakRef<object> => {
      const request = { route: "manifests" };
      collector.begin();
      collector.end(request);
      return new WeakRef(request);
    };
    const first = ended();
    await sleep(40);
    assert.ok(first.deref(), "the last request did not outlive the collection");
    const second = ended();
    await sleep(40);
    assert.equal(first.deref(), undefined, "a request was kept after the next one ended");
    assert.ok(second.deref());
    collector.stop();
  });
});
