import { Worker } from "node:worker_threads";
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

  /**
   * @param idleMs how long the worker outlives its last job: a worker holds 9-20 MiB, which
   *   a store written now and then should not keep, and restarting one takes about 20 ms
   */
  constructor(
    private readonly data: Omit<ApplyWorkerData, "trashPrefix">,
    private readonly idleMs = 1_000,
    private readonly warn: (message: string) => void = () => {},
  ) {}

  /**
   * Resolves once `ops` are applied; rejects with the error (its errno code kept) that stopped them.
   * With `where`, the puts' contents are read from the journal, and `ops` are not held meanwhile.
   */
  apply(ops: readonly JournalOp[], where?: RecordLocation): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
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

  /** Stops the worker; whatever it was still applying is left to the journal's replay. */
  async close(): Promise<void> {
    this.failed ??= new Error("the apply worker is closed");
    await this.retire();
  }

  private post(): void {
    if (this.posted) return;
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
    batch.forEach((job, i) => {
      const failure = results[i];
      if (failure) job.reject(Object.assign(new Error(failure.message), failure.code ? { code: failure.code } : {}));
      else job.resolve();
    });
    this.post();
    this.idleIfDone();
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
    this.failed ??= err;
    this.warn(`the apply worker died on a job applied alone (${err.message}); no further writes are applied until a restart`);
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
