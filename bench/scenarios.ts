/**
 * Every measured figure (a scenario) with its unit and the issue's target, and the workloads that
 * produce them: one workload is one server lifetime on fresh storage, measured in phases.
 */
import type { Dispatcher } from "undici";
import { runPool } from "./http.js";
import { formatBytes, type Options } from "./options.js";
import { cpuSeconds, peakRss, resetPeak } from "./proc.js";
import type { Server, ServerAccess } from "./servers.js";

export type Kind = "bytes" | "ops";

export interface Scenario {
  id: string;
  workload: string;
  title: string;
  kind: Kind;
  /** Throughput unit: MB/s for bytes, else `<per>/s`. */
  unit: string;
  /** What CPU time is counted per: "GB" or "request", "walk", "merge". */
  per: string;
  /** lading/reference throughput ratio wanted (at least). */
  target?: number;
  /** lading/reference CPU-per-unit ratio wanted (at most). */
  cpuTarget?: number;
  /**
   * A scenario of the same run whose lading figure is this one's baseline (the same requests
   * without access control), and the share of that throughput lading may lose here, in percent:
   * the cost target is met when 1 − this / baseline is below it.
   */
  baseline?: { id: string; maxCostPercent: number };
  /** Why the reference is not measured: a workload all of whose scenarios say so runs on lading alone. */
  ladingOnly?: string;
}

export interface Sample {
  seconds: number;
  /** Bytes moved (kind "bytes") or operations done (kind "ops"). */
  units: number;
  /** The server's CPU from the start of the phase until it was idle again (see `measurePhase`). */
  cpuSeconds: number;
  peakRssBytes: number;
  /** How long the server went on working after the phase's last answer. */
  settleSeconds: number;
}

export interface WorkloadContext {
  server: Server;
  agent: Dispatcher;
  opts: Options;
  repoRoot: string;
  /** Measures one scenario: `work` returns the bytes or operations it did. */
  phase(id: string, work: () => Promise<number>): Promise<void>;
}

export interface Workload {
  name: string;
  /** undefined when it can run, else why not (reported as "not available", never silently dropped). */
  unavailable?(repoRoot: string): Promise<string | undefined>;
  /** Access control both servers start with; none without it. */
  access?(): Promise<ServerAccess>;
  run(ctx: WorkloadContext): Promise<void>;
}

export function scenarios(opts: Options): Scenario[] {
  const big = formatBytes(opts.bigBytes);
  const huge = formatBytes(opts.hugeBytes);
  const chunk = formatBytes(opts.chunkBytes);
  const c = `concurrency ${opts.concurrency}`;
  const list: Scenario[] = [];
  const push = (size: string, workload: string, targets: [number, number, number] | undefined): void => {
    const modes = [
      ["monolithic", "POST + one PUT"],
      ["chunked", `${chunk} PATCHes`],
      ["streamed", "one streamed PATCH"],
    ] as const;
    modes.forEach(([mode, how], i) => {
      const s: Scenario = { id: `push.${mode}.${workload}`, workload: `blobs-${workload}`, title: `push ${size} blob, ${mode} (${how})`, kind: "bytes", unit: "MB/s", per: "GB", cpuTarget: 0.55 };
      const target = targets?.[i];
      if (target !== undefined) s.target = target;
      list.push(s);
    });
    const pull: Scenario = { id: `pull.${workload}`, workload: `blobs-${workload}`, title: `pull ${size} blob, digest verified`, kind: "bytes", unit: "MB/s", per: "GB" };
    if (workload === "big") pull.target = 1.0;
    list.push(pull);
  };
  push(big, "big", [1.4, 1.6, 1.3]);
  push(huge, "huge", undefined);
  const ops = (id: string, workload: string, title: string, per: string, target?: number): void => {
    const s: Scenario = { id, workload, title, kind: "ops", unit: `${per === "request" ? "req" : `${per}s`}/s`, per };
    if (target !== undefined) s.target = target;
    list.push(s);
  };
  ops("small.push", "small", `${opts.smallBlobs} small blobs (${formatBytes(opts.smallBytes)}) pushed, ${c}`, "blob", 5);
  ops("small.head", "small", `small blobs HEAD, ${c}`, "request", 8);
  ops("small.get", "small", `small blobs GET, digest verified, ${c}`, "request", 8);
  ops("manifest.put", "manifests", `${opts.manifests} manifests PUT by tag, ${c}`, "request", 8);
  ops("manifest.get-tag", "manifests", `manifest GET by tag, ${c}`, "request", 6);
  ops("manifest.head", "manifests", `manifest HEAD by tag, ${c}`, "request", 6);
  ops("manifest.get-digest", "manifests", `manifest GET by digest, ${c}`, "request");
  ops("tags.whole", "tags", `tag list of ${opts.tags} tags, whole, ${c}`, "request", 4);
  ops("tags.paginated", "tags", `tag list of ${opts.tags} tags, walked n=${opts.tagPage}, ${c}`, "walk", 4);
  ops("catalog.walk", "catalog", `_catalog of ${opts.repos} repositories, walked n=${opts.catalogPage}, ${c}`, "walk", 50);
  ops("mounts", "mounts", `${opts.mounts} cross-repository mounts, ${c}`, "mount", 8);
  ops("merge", "merge", "`lading merge` of a base and two sections", "merge");
  authScenarios(opts, list);
  return list;
}

/** The issue's access-control targets: Basic reads 20× the reference's, and auth costing lading under 20%. */
const basicTarget = 20;
const maxAuthCostPercent = 20;

/**
 * Reads behind access control, one workload per mode (see workloads/auth.ts): without it (the
 * baseline, both registries), with Basic credentials (both, htpasswd), with lading's bearer tokens
 * (lading alone).
 */
function authScenarios(opts: Options, list: Scenario[]): void {
  const c = `${opts.authItems} items, concurrency ${opts.concurrency}`;
  const reads = [
    ["manifest-head", "manifest HEAD by tag"],
    ["manifest-get", "manifest GET by tag, digest verified"],
    ["blob-head", "blob HEAD"],
  ] as const;
  const modes = [
    ["anonymous", "no access control"],
    ["basic", "Basic auth (htpasswd, bcrypt cost 10)"],
    ["bearer", "bearer token from lading's /token"],
  ] as const;
  for (const [mode, how] of modes) {
    for (const [read, what] of reads) {
      const s: Scenario = { id: `auth.${mode}.${read}`, workload: `auth-${mode}`, title: `${what}, ${how}, ${c}`, kind: "ops", unit: "req/s", per: "request" };
      if (mode !== "anonymous") s.baseline = { id: `auth.anonymous.${read}`, maxCostPercent: maxAuthCostPercent };
      if (mode === "basic") s.target = basicTarget;
      if (mode === "bearer") s.ladingOnly = "the reference's token mode needs an external token server";
      list.push(s);
    }
  }
}

/**
 * Runs one phase: peak RSS reset, CPU and clock read around `work`. The clock stops at the last
 * answer; CPU and peak RSS are read once the server is idle again, so that work a server does
 * after answering (lading applies journaled writes to its tree in the background) is counted in
 * the phase that caused it, and not in the next.
 */
export async function measurePhase(server: Server, work: () => Promise<number>): Promise<Sample> {
  // What came before (set-up, warm-up) may still be running in the background: not this phase's.
  await idle(server.pid);
  resetPeak(server.pid);
  const cpu0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  const units = await work();
  const seconds = (performance.now() - t0) / 1000;
  const settleSeconds = await idle(server.pid);
  const cpu1 = cpuSeconds(server.pid);
  return { seconds, units, cpuSeconds: cpu1 - cpu0, peakRssBytes: peakRss(server.pid), settleSeconds };
}

const idleWindowMs = 100;
/** A window counts as idle when the server used at most this share of one core in it. */
const idleShare = 0.1;
const settleLimitMs = 60_000;

/**
 * Waits until a window of `idleWindowMs` passes with the server (nearly) idle; returns how long it
 * was busy before that window, in seconds: 0 for a server that was idle at once.
 */
async function idle(pid: number): Promise<number> {
  let busy = 0;
  for (;;) {
    const start = performance.now();
    const cpu = cpuSeconds(pid);
    await new Promise((r) => setTimeout(r, idleWindowMs));
    const used = cpuSeconds(pid) - cpu;
    const elapsed = (performance.now() - start) / 1000;
    if (used <= idleShare * elapsed) return busy;
    busy += elapsed;
    if (busy * 1000 > settleLimitMs) throw new Error(`the server (PID ${pid}) was still busy ${settleLimitMs / 1000} s after the phase`);
  }
}

/**
 * The unmeasured warm-up before a write phase of `count` operations: `op(i)` for i = 0, 1, ...
 * (each a new item), `warmup` per hundred of `count` and for at least `warmupSeconds`.
 */
export function warmUp(opts: Options, count: number, op: (i: number) => Promise<void>): Promise<number> {
  return runPool(Math.ceil((count * opts.warmup) / 100), opts.concurrency, op, opts.warmupSeconds * 1000);
}
