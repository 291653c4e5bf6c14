import * as fs from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import type { ApplyFailure, ApplyJob, ApplyWorkerData } from "./applier.js";
import { isNoSpaceCode } from "../driver.js";
import { errnoCode } from "./errno.js";
import type { JournalOp } from "./journal.js";
import { Tree } from "./tree.js";

/** The filesystem driver's apply worker: batches of jobs in, one result per job out, in order. */
const data = workerData as ApplyWorkerData;
const tree = new Tree(data.root, data.scratch, data.trashPrefix);
// On Linux a priority set for "process 0" is the calling thread's alone.
try {
  setPriority(0, data.nice);
} catch {
  // Not permitted here: the worker runs at the process's priority.
}

/** The journal segment being read, open; jobs come in journal order, so an older one is done with. */
let segment: { path: string; fd: number } | undefined;
/** Reused for every content read back; shrunk after an unusually large one. */
let buffer = Buffer.allocUnsafe(64 << 10);

function segmentFd(path: string): number {
  if (segment?.path === path) return segment.fd;
  if (segment) fs.closeSync(segment.fd);
  segment = { path, fd: fs.openSync(path, "r") };
  return segment.fd;
}

/** Reads `length` bytes at `at` of the segment, into the reused buffer. */
function readBack(path: string, at: number, length: number): Buffer {
  if (buffer.length < length) buffer = Buffer.allocUnsafe(length);
  const fd = segmentFd(path);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buffer, done, length - done, at + done);
    if (n === 0) throw new Error(`journal segment ${path} ends before its record's content (${at}+${length})`);
    done += n;
  }
  return buffer.subarray(0, length);
}

function run(job: ApplyJob): void {
  // A put's content is read just before the put, one at a time: the buffer is reused.
  for (const o of job.ops) {
    let op: JournalOp;
    if (o.op === "put" && !(o.content instanceof Uint8Array)) op = { op: "put", path: o.path, content: readBack(job.segment!, o.content.at, o.content.length) };
    else op = o as JournalOp;
    tree.apply([op], job.replay);
  }
}

function attempt(job: ApplyJob): ApplyFailure | null {
  try {
    run(job);
    return null;
  } catch (err) {
    return { message: err instanceof Error ? err.message : String(err), code: errnoCode(err) };
  } finally {
    if (buffer.length > 1 << 20) buffer = Buffer.allocUnsafe(64 << 10);
  }
}

/**
 * One result per job, except after a job that found no room: the jobs after it are not run (one
 * may depend on it, as a link on the blob it names) and get no result; the applier hands them over
 * again.
 */
parentPort!.on("message", (batch: ApplyJob[]) => {
  const results: Array<ApplyFailure | null> = [];
  for (const job of batch) {
    const failure = attempt(job);
    results.push(failure);
    if (failure && isNoSpaceCode(failure.code)) break;
  }
  parentPort!.postMessage(results);
});
