import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { PartPool } from "../../src/storage/s3/pool.js";

describe("the S3 part pool", () => {
  it("lends at most its capacity, then serves waiters first come, first served", async () => {
    const pool = new PartPool(16, 2);
    const a = await pool.acquire();
    const b = await pool.acquire();
    assert.equal(pool.inUse, 2);
    const order: string[] = [];
    const first = pool.acquire().then((buf) => (order.push("first"), buf));
    const second = pool.acquire().then((buf) => (order.push("second"), buf));
    await sleep(5);
    assert.deepEqual(order, [], "no buffer is lent beyond the capacity");
    pool.release(a);
    assert.equal(await first, a, "a released buffer goes to the first waiter");
    pool.release(b);
    assert.equal(await second, b);
    assert.deepEqual(order, ["first", "second"]);
    assert.equal(pool.inUse, 2);
    pool.release(a);
    pool.release(b);
    assert.equal(pool.inUse, 0);
  });

  it("reuses buffers while busy and drops them once idle", async () => {
    const pool = new PartPool(16, 1, 20);
    const a = await pool.acquire();
    assert.equal(a.length, 16);
    pool.release(a);
    const again = await pool.acquire();
    assert.equal(again, a, "reused");
    pool.release(again);
    await sleep(60);
    const fresh = await pool.acquire();
    assert.notEqual(fresh, a, "dropped after the idle time");
    pool.release(fresh);
  });

  it("refuses a pool without a buffer", () => {
    assert.throws(() => new PartPool(16, 0), /at least one buffer/);
  });
});
