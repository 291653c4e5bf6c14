import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let exposed: (() => void) | undefined;

/** V8's full collection, reached the way Node documents for a running process. */
function fullCollection(): void {
  if (!exposed) {
    setFlagsFromString("--expose-gc");
    exposed = runInNewContext("gc") as () => void;
  }
  exposed();
}

export interface IdleCollectorOptions {
  /** How long the server must go without a request before the collection runs. */
  quietMs?: number;
  /** The heap growth since the last collection below which none is worth running. */
  minGrowthBytes?: number;
  collect?: () => void;
  heapUsed?: () => number;
}

/**
 * Runs a full garbage collection once the server has gone quiet after taking requests, when the
 * heap grew since the last one. lading runs with incremental marking off (see the launcher), which
 * also idles V8's memory reducer, the collection it would otherwise run after a burst: what a burst
 * of writes left in the old generation (requests held across their journal's synchronized write
 * outlive young collections) then stayed there until the old generation reached its limit, long
 * after. On lading's small heap the collection takes a few milliseconds.
 */
export class IdleCollector {
  private readonly quietMs: number;
  private readonly minGrowthBytes: number;
  private readonly collect: () => void;
  private readonly heapUsed: () => number;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private afterLast: number;

  constructor(options: IdleCollectorOptions = {}) {
    this.quietMs = options.quietMs ?? 100;
    this.minGrowthBytes = options.minGrowthBytes ?? 4 << 20;
    this.collect = options.collect ?? fullCollection;
    this.heapUsed = options.heapUsed ?? (() => getHeapStatistics().used_heap_size);
    this.afterLast = this.heapUsed();
  }

  /** A request started. */
  begin(): void {
    this.inFlight++;
  }

  /** A request ended: the quiet period starts (again) when it was the last in flight. */
  end(): void {
    if (--this.inFlight > 0) return;
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => this.quiet(), this.quietMs);
      this.timer.unref();
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private quiet(): void {
    if (this.inFlight > 0) return;
    const used = this.heapUsed();
    // V8 collected on its own meanwhile: that is the new baseline.
    if (used < this.afterLast) this.afterLast = used;
    if (used - this.afterLast < this.minGrowthBytes) return;
    this.collect();
    this.afterLast = this.heapUsed();
  }
}
