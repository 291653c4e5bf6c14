import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** How long the server must go without a request before the collection runs. */
const quietMs = 100;
/** The heap growth since the last collection below which none is worth running. */
const minGrowthBytes = 4 << 20;

let collect: (() => void) | undefined;

function fullCollection(): () => void {
  if (!collect) {
    // Node's documented way to reach V8's collector from a running process.
    setFlagsFromString("--expose-gc");
    collect = runInNewContext("gc") as () => void;
  }
  return collect;
}

/**
 * Runs a full garbage collection once the server has gone quiet after taking requests, when the
 * heap grew since the last one. lading runs with incremental marking off (see the launcher), which
 * also idles V8's memory reducer, the collection it would otherwise run after a burst: what a burst
 * of writes left in the old generation (requests held across their journal's synchronized write
 * outlive young collections) then stayed resident until the old generation reached its limit, long
 * after. On lading's small heap the collection takes a few milliseconds.
 */
export class IdleCollector {
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private afterLast = getHeapStatistics().used_heap_size;

  begin(): void {
    this.inFlight++;
  }

  end(): void {
    if (--this.inFlight > 0) return;
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => this.quiet(), quietMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private quiet(): void {
    if (this.inFlight > 0) return;
    const used = getHeapStatistics().used_heap_size;
    // V8 collected on its own meanwhile: that is the new baseline.
    if (used < this.afterLast) this.afterLast = used;
    if (used - this.afterLast < minGrowthBytes) return;
    fullCollection()();
    this.afterLast = getHeapStatistics().used_heap_size;
  }
}
