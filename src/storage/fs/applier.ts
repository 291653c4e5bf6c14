import { Worker } from "node:worker_threads";
import { isNoSpaceCode } from "../driver.js";
import type { JournalOp, RecordLocation } from "./journal.js";

export interface ApplyWorkerData {
  root: string;
  scratch: string;
  /** The worker thread's scheduling priority (nice value, 0 to 19). */
  nice: number;
  /** Starts the names its deletes give in scratch space: one per worker, each started anew. */
  trashPrefix: string;
}

/**
 * An operation as posted: a journaled put's content is where the journal wrote it (`at`, `length`
 * in the job's segment file); an unjournaled one's travels with it.
 */
export type ApplyOp = Exclude<JournalOp, { op: "put" }> | { op: "put"; path: string; content: Uint8Array | { at: number; length: number } };

export interface ApplyJob {
  /** The journal segment holding the contents of the job's puts, when it was journaled. */
  segment?: string;
  ops: ApplyOp[];
  /**
   * Applied again after a worker died on it, which may have applied a part of it first: as the
   * journal's replay applies, skipping what was already done (see `Tree.apply`).
   */
  replay?: boolean;
}

/** How one job failed in the worker: the error's message and errno code. */
export interface ApplyFailure {
  message: string;
  code: string | undefined;
}

/** The most jobs one message to the worker carries. */
const maxBatch = 1024;

/** Waits before a job that found no room is tried again: the first, doubled at each failure up to the last. */
const spaceRetryMs = { first: 50, max: 1_000 };

interface Job {
  job: ApplyJob;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Applies journal operations to registry:2's tree on a worker thread, in the order they were handed
 * over, with synchronous system calls (see tree.ts). A record of a manifest PUT is a dozen metadata
 * syscalls; on libuv's thread pool each was a hand-off between threads and a promise on the main
 * thread, here the jobs handed over in one turn of the event loop cross as one message.
 *
 * One batch is with the worker at a time; what is handed over meanwhile waits for it and goes next,
 * as one batch (of at most `maxBatch` jobs, which bounds the worker's heap): the further the worker
 * falls behind, the fewer messages it takes. A journaled put's content is not held for it: the
 * worker reads it back from the journal segment (from the page cache: it was just written there),
 * so a backlog costs memory for paths only.
 *
 * The worker runs at a lower priority than the main thread: the journal has made what it applies
 * durable already, so answering requests goes first, and the tree catches up when they leave the
 * processor idle (or the journal's backlog bound makes writers wait for it).
 *
 * A worker that dies (out of memory, say) is replaced. The jobs of the batch it had go to the new
 * worker one per message, applied as a replay would. Only a job that a fresh worker dies on alone
 * stops the applier, and with it the journal's writes, until a restart.
 *
 * A journaled job that finds no room (ENOSPC, EDQUOT) was acknowledged already: it is neither
 * failed nor skipped, but tried again, alone and as a replay would, until it fits, and nothing
 * after it is applied meanwhile (the applier "stalls"). An unjournaled job that finds no room fails
 * (its caller still waits, and nothing of it was promised), and so does every one handed over
 * while stalled.
 */
export class Applier {
  /** The worker, started with the first job and stopped after `idleMs` without one. */
  private worker: Worker | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private queued: Job[] = [];
  /** Jobs of a batch a worker died on: they go before the queued ones, one per message. */
  private retrying: Job[] = [];
  /** The batch with the worker. */
  private posted: Job[] | undefined;
  private failed: Error | undefined;
  private started = 0;
  /** Set while a journaled job waits for room: what it met, and the wait before its next try. */
  private stall: { error: Error; delayMs: number; timer: NodeJS.Timeout | undefined } | undefined;
  /** Cleared when the driver closes: its journal's replay will apply what does not fit now. */
  private waitsForSpace = true;

  /**
   * @param idleMs how long the worker outlives its last job: a worker holds 9-20 MiB, which
   *   a store written now and then should not keep, and restarting one takes about 20 ms
   * @param onStall told when applying stalls for lack of room (with what was met; after the jobs
   *   applied before it have settled) and when it goes on (undefined)
   */
  constructor(
    private readonly data: Omit<ApplyWorkerData, "trashPrefix">,
    private readonly idleMs = 1_000,
    private readonly warn: (message: string) => void = () => {},
    private readonly onStall: (error: Error | undefined) => void = () => {},
  ) {}

  /** What a journaled job waiting for room met, while one does. */
  get stalled(): Error | undefined {
    return this.stall?.error;
  }

  /**
   * Resolves once `ops` are applied; rejects with the error (its errno code kept) that stopped them.
   * With `where`, the puts' contents are read from the journal, and `ops` are not held meanwhile.
   */
  apply(ops: readonly JournalOp[], where?: RecordLocation): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.stall && !where) return Promise.reject(this.stall.error);
    let put = 0;
    const job: ApplyJob = {
      ops: ops.map((o): ApplyOp => {
        if (o.op !== "put") return o;
        if (where) return { op: "put", path: o.path, content: { at: where.offsets[put++]!, length: o.content.byteLength } };
        // An exact copy: a view's whole buffer (Node's 8 KiB pool, say) would be cloned with it.
        return { op: "put", path: o.path, content: new Uint8Array(o.content) };
      }),
    };
    if (where) job.segment = where.segment;
    return new Promise<void>((resolve, reject) => {
      // Posted once the turn of the event loop has handed over all it will.
      if (this.queued.length === 0 && !this.posted) queueMicrotask(() => this.post());
      this.queued.push({ job, resolve, reject });
    });
  }

  /**
   * Stops waiting for room (the driver is closing): the job waiting and every one after it fail,
   * as does any later job that finds none, and the journal's replay applies them at the next start.
   */
  stopWaitingForSpace(): void {
    this.waitsForSpace = false;
    if (!this.stall) return;
    clearTimeout(this.stall.timer);
    const error = this.stall.error;
    this.stall = undefined;
    // A retry with the worker fails or succeeds on its own; what waits behind it fails with it.
    if (!this.posted) this.stop(error, []);
  }

  /** Stops the worker; whatever it was still applying is left to the journal's replay. */
  async close(): Promise<void> {
    this.failed ??= new Error("the apply worker is closed");
    await this.retire();
  }

  private post(): void {
    if (this.posted || this.stall?.timer !== undefined) return;
    const batch = this.retrying.length > 0 ? this.retrying.splice(0, 1) : this.queued.splice(0, maxBatch);
    if (batch.length === 0) return;
    if (this.failed) return this.rejectAll([batch]);
    this.posted = batch;
    clearTimeout(this.idleTimer);
    this.start().postMessage(batch.map((j) => j.job));
  }

  /** The running worker, or a new one; it keeps the process alive only while it has work. */
  private start(): Worker {
    if (this.worker) {
      this.worker.ref();
      return this.worker;
    }
    const worker = new Worker(new URL("./apply-worker.js", import.meta.url), {
      workerData: { ...this.data, trashPrefix: `w${(++this.started).toString(36)}-` } satisfies ApplyWorkerData,
      // What it holds is one batch of paths, a read buffer and a cache of directories.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 },
    });
    // Events of a worker already retired (its exit, above all) are no longer this applier's concern.
    worker.on("message", (results: Array<ApplyFailure | null>) => this.worker === worker && this.answer(results));
    worker.on("error", (err) => this.worker === worker && this.lost(err));
    worker.on("exit", (code) => this.worker === worker && this.lost(new Error(`the apply worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private async retire(): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private answer(results: Array<ApplyFailure | null>): void {
    const batch = this.posted;
    if (!batch) return;
    this.posted = undefined;
    let waiting: { job: Job; error: Error } | undefined;
    batch.forEach((job, i) => {
      if (i >= results.length) return;
      const failure = results[i];
      if (!failure) return job.resolve();
      const error = Object.assign(new Error(failure.message), failure.code ? { code: failure.code } : {});
      if (isNoSpaceCode(failure.code) && job.job.segment !== undefined) waiting = { job, error };
      else job.reject(error);
    });
    // The worker ran none of the jobs after one that found no room: they go first, in order.
    this.queued.unshift(...batch.slice(results.length));
    if (waiting && !this.waitsForSpace) return this.stop(waiting.error, [waiting.job]);
    if (waiting) this.waitForSpace(waiting.job, waiting.error);
    else if (this.stall) this.resume();
    this.post();
    this.idleIfDone();
  }

  /** Holds a journaled job that found no room, and what comes after it, until it fits. */
  private waitForSpace(job: Job, error: Error): void {
    job.job.replay = true;
    this.retrying.unshift(job);
    const first = !this.stall;
    const delayMs = first ? spaceRetryMs.first : Math.min(2 * this.stall!.delayMs, spaceRetryMs.max);
    const timer = setTimeout(() => {
      if (this.stall) this.stall.timer = undefined;
      this.post();
    }, delayMs);
    timer.unref();
    this.stall = { error, delayMs, timer };
    if (!first) return;
    this.warn(`applying a journaled write found no room (${error.message}); it is tried again until it fits, and until then writes are refused`);
    // Nothing was promised to the callers of unjournaled jobs: they are not kept waiting.
    const unjournaled = this.queued.filter((j) => j.job.segment === undefined);
    this.queued = this.queued.filter((j) => j.job.segment !== undefined);
    for (const j of unjournaled) j.reject(error);
    // Told once the jobs applied before it have settled, and reads waiting only for them have gone on.
    setImmediate(() => this.stall && this.onStall(this.stall.error));
  }

  private resume(): void {
    this.stall = undefined;
    this.warn("applying journaled writes goes on: the write that found no room is done with");
    this.onStall(undefined);
  }

  /** The worker died (its error, then its exit): its batch goes to a new one, unless it died on a retried job. */
  private lost(err: Error): void {
    clearTimeout(this.idleTimer);
    this.worker = undefined;
    const batch = this.posted;
    this.posted = undefined;
    if (!batch) return;
    if (batch.length === 1 && batch[0]!.job.replay) return this.die(err, batch);
    this.warn(`the apply worker died (${err.message}); applying its ${batch.length} job(s) again on a new one`);
    for (const job of batch) job.job.replay = true;
    this.retrying = [...batch, ...this.retrying];
    this.post();
  }

  private die(err: Error, posted: Job[]): void {
    this.warn(`the apply worker died on a job applied alone (${err.message}); no further writes are applied until a restart`);
    this.stop(err, posted);
  }

  /** Fails `posted` and every job waiting, and every later one. */
  private stop(err: Error, posted: Job[]): void {
    this.failed ??= err;
    const batches = [posted, this.retrying, this.queued];
    this.retrying = [];
    this.queued = [];
    this.rejectAll(batches);
  }

  private rejectAll(batches: Job[][]): void {
    for (const batch of batches) for (const job of batch) job.reject(this.failed!);
    this.idleIfDone();
  }

  /** Once no job is queued or with the worker, lets the process exit and retires the worker later. */
  private idleIfDone(): void {
    if (this.queued.length > 0 || this.retrying.length > 0 || this.posted || !this.worker) return;
    this.worker.unref();
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.retire(), this.idleMs);
    this.idleTimer.unref();
  }
}
