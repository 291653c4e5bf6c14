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

export interface HeapCollectorOptions {
  /** How long the server must go without a request before the collection runs. */
  quietMs?: number;
  /** The heap growth since the last collection below which none is worth running when quiet. */
  minGrowthBytes?: number;
  /** The heap growth since the last collection at which one runs even while requests go on. */
  maxGrowthBytes?: number;
  /** How many requests end between two readings of the heap while busy. */
  checkEvery?: number;
  collect?: () => void;
  heapUsed?: () => number;
}

/**
 * Runs V8's full garbage collection when lading's own heap calls for it: once the server has gone
 * quiet after requests that grew the heap, and while it is busy once the heap has grown by
 * `maxGrowthBytes` since the last collection.
 *
 * lading runs with incremental marking off (see the launcher), which also idles V8's memory
 * reducer, the collection it would otherwise run after a burst: what a burst of writes left in the
 * old generation (requests held across their journal's synchronized write outlive young
 * collections) stayed there until the old generation reached its limit, long after. And V8 lets
 * the old generation grow by at least 16 MiB, plus the young generation's size, past what the last
 * collection left before it collects on its own (a step meant for big heaps); on lading's heap of
 * 10-20 MiB that was a peak of 35-40 MiB in every write burst. On such a heap the collection takes
 * 10-20 milliseconds.
 *
 * A full collection also frees the hidden classes (maps) of which it finds no object alive, and V8
 * then discards the optimized code built on them ("weak objects" in `--trace-deopt`): collected
 * between two bursts, with no request alive, that was up to 70 functions of Node's HTTP path and
 * lading's own, run unoptimized at the start of the next burst until compiled again (on the second
 * core, which the server's apply worker and its clients need). So the last request to end is kept
 * until the next one ends, a quiet period is a second, not a moment between two bursts, and while
 * busy the collection waits for 8 MiB of growth: manifest PUTs right after a burst of them went
 * from about 3,700 to 5,400 a second (medians of nine, measured outside the benchmark).
 */
export class HeapCollector {
  private readonly quietMs: number;
  private readonly minGrowthBytes: number;
  private readonly maxGrowthBytes: number;
  private readonly checkEvery: number;
  private readonly collect: () => void;
  private readonly heapUsed: () => number;
  private inFlight = 0;
  private ended = 0;
  private timer: NodeJS.Timeout | undefined;
  private afterLast: number;
  /** The last request to end (its context, holding its request and response objects): see above. */
  private readonly kept: { request?: object | undefined } = {};

  constructor(options: HeapCollectorOptions = {}) {
    this.quietMs = options.quietMs ?? 1000;
    this.minGrowthBytes = options.minGrowthBytes ?? 4 << 20;
    this.maxGrowthBytes = options.maxGrowthBytes ?? 8 << 20;
    this.checkEvery = options.checkEvery ?? 256;
    this.collect = options.collect ?? fullCollection;
    this.heapUsed = options.heapUsed ?? (() => getHeapStatistics().used_heap_size);
    this.afterLast = this.heapUsed();
  }

  /** A request started. */
  begin(): void {
    this.inFlight++;
  }

  /**
   * A request ended (`request`: its objects, kept until the next one ends): the quiet period starts
   * (again) when it was the last in flight.
   */
  end(request?: object): void {
    this.kept.request = request;
    if (++this.ended % this.checkEvery === 0) this.collectAbove(this.maxGrowthBytes);
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
    if (this.inFlight === 0) this.collectAbove(this.minGrowthBytes);
  }

  private collectAbove(growth: number): void {
    const used = this.heapUsed();
    // V8 collected on its own meanwhile: that is the new baseline.
    if (used < this.afterLast) this.afterLast = used;
    if (used - this.afterLast < growth) return;
    this.collect();
    this.afterLast = this.heapUsed();
  }
}
