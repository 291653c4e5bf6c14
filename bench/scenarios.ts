/**
 * Every measured figure (a scenario) with its unit and the issue's target, and the workloads that
 * produce them: one workload is one server lifetime on fresh storage, measured in phases.
 */
import type { Dispatcher } from "undici";
import { runPool } from "./http.js";
import { formatBytes, type Options } from "./options.js";
import { cpuSeconds, currentRss, peakRss, resetPeak } from "./proc.js";
import { s3Scenarios } from "./scenarios-s3.js";
import type { ServerStorage } from "./server-config.js";
import type { RegistryKind, Server, ServerAccess } from "./servers.js";

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
   * the cost target is met when 1 − this / baseline is below it. Without a maximum the cost is
   * reported, not checked (three replicas against one).
   */
  baseline?: { id: string; maxCostPercent?: number };
  /** Why the reference is not measured: a workload all of whose scenarios say so runs on lading alone. */
  ladingOnly?: string;
  /** lading's p99 latency wanted (less than), ms. */
  p99LimitMs?: number;
  /** lading's peak RSS wanted (at most), MiB, when not the default (report.ts). */
  rssLimitMiB?: number;
  /** Uploads in flight at once: lading's peak RSS over its RSS at the start is also checked per upload. */
  concurrentUploads?: number;
}

export interface Sample {
  seconds: number;
  /** Bytes moved (kind "bytes") or operations done (kind "ops"). */
  units: number;
  /** The server's CPU from the start of the phase until it was idle again (see `measurePhase`). */
  cpuSeconds: number;
  peakRssBytes: number;
  /** The server's RSS when the phase started (after the idle wait). */
  startRssBytes: number;
  /** How long the server went on working after the phase's last answer. */
  settleSeconds: number;
  /** The 99th percentile of the phase's request latencies, ms, when the workload timed them. */
  p99Ms?: number;
}

/**
 * What a phase's work may return beside its count: CPU spent outside the servers on their behalf
 * (a collector process), and a latency percentile it measured.
 */
export interface PhaseResult {
  units: number;
  extraCpuSeconds?: number;
  p99Ms?: number;
}

export interface WorkloadContext {
  server: Server;
  agent: Dispatcher;
  opts: Options;
  repoRoot: string;
  /** What the server stores on: more servers on the same storage may be started (replicas on one bucket). */
  storage: ServerStorage;
  /**
   * Measures one scenario: `work` returns the bytes or operations it did. The CPU of `alongside`
   * (more servers the workload started) counts too, and the peak RSS is the largest of any one.
   */
  phase(id: string, work: () => Promise<number | PhaseResult>, alongside?: readonly Server[]): Promise<void>;
}

export interface Workload {
  name: string;
  /** undefined when it can run, else why not (reported as "not available", never silently dropped). */
  unavailable?(repoRoot: string): Promise<string | undefined>;
  /** Access control both servers start with; none without it. */
  access?(): Promise<ServerAccess>;
  /** Writes into a server's fresh storage directory what it must hold before it starts. */
  prepare?(storage: string, opts: Options): Promise<void>;
  /**
   * Servers store on a fresh bucket of the run's S3 gateway (bench/gateway.ts) instead of a fresh
   * directory; blob GETs are answered with a redirect to the gateway when `redirect`.
   */
  s3?: { redirect: boolean };
  /**
   * Starts what the server under test works with (an upstream registry to mirror), before it, for
   * each server; returns the config keys the server starts with, and how to stop what it started.
   */
  beside?(kind: RegistryKind, opts: Options, repoRoot: string): Promise<Beside>;
  run(ctx: WorkloadContext): Promise<void>;
}

/** What a workload's `beside` started: the server's extra config keys, and its stop. */
export interface Beside {
  config: Record<string, unknown>;
  stop(): Promise<void>;
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
  const gcStore = `${opts.gcRepos} repositories, ${opts.gcManifests} manifests, ${opts.gcBlobs} blobs (half garbage)`;
  list.push({ id: "gc.reads", workload: "gc", title: `manifest GET by tag, ${gcStore}, no collection, ${opts.gcReadRate} per second`, kind: "ops", unit: "req/s", per: "request", ladingOnly: "the reference collects offline: its reads during a collection are not a figure it offers" });
  list.push({ id: "gc.collect", workload: "gc", title: `garbage collection of ${gcStore}; lading serving ${opts.gcReadRate} manifest GETs per second throughout`, kind: "ops", unit: "collections/s", per: "collection", target: 5 });
  const ui = `${opts.uiRepos} repositories, the biggest with ${opts.uiTags} tags; page loads in Chromium, timed until the table is drawn`;
  const noUi = "the reference has no web UI";
  list.push({ id: "ui.first", workload: "ui", title: `web UI, first view of the repository list after the start (${ui})`, kind: "ops", unit: "views/s", per: "view", ladingOnly: noUi, p99LimitMs: 300 });
  list.push({ id: "ui.repositories", workload: "ui", title: `web UI, repository list, ${opts.uiViews} pages (${ui})`, kind: "ops", unit: "views/s", per: "view", ladingOnly: noUi, p99LimitMs: 300 });
  list.push({ id: "ui.tags.first", workload: "ui", title: `web UI, first view of the ${opts.uiTags} tags sorted by push time (${ui})`, kind: "ops", unit: "views/s", per: "view", ladingOnly: noUi, p99LimitMs: 300 });
  list.push({ id: "ui.tags", workload: "ui", title: `web UI, ${opts.uiTags} tags sorted by push time, ${opts.uiViews} pages (${ui})`, kind: "ops", unit: "views/s", per: "view", ladingOnly: noUi, p99LimitMs: 300 });
  const images = `${opts.mirrorImages} images (config, a base layer of ${formatBytes(4 * opts.mirrorLayerBytes)} they share, layers of ${formatBytes(opts.mirrorLayerBytes)} and 4 KiB), manifest by tag then blobs, ${Math.max(1, Math.floor(opts.concurrency / 4))} images at once`;
  list.push({ id: "mirror.cold", workload: "mirror", title: `pull-through cache, cold: ${images}, each fetched from the upstream (docker-registry on loopback)`, kind: "ops", unit: "images/s", per: "image", target: 1 });
  list.push({ id: "mirror.warm", workload: "mirror", title: `pull-through cache, warm: the same pulls, from the cache`, kind: "ops", unit: "images/s", per: "image", baseline: { id: "mirror.local", maxCostPercent: 0 } });
  list.push({ id: "mirror.local", workload: "mirror", title: `the same pulls of the same images pushed to a repository of lading's own`, kind: "ops", unit: "images/s", per: "image", ladingOnly: "the reference takes no pushes while it mirrors" });
  authScenarios(opts, list);
  s3Scenarios(opts, list);
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
 * Runs one phase on the servers `pids` (one, or replicas): peak RSS reset, CPU and clock read
 * around `work`. The clock stops at the last answer; CPU and peak RSS are read once every server
 * is idle again, so that work a server does after answering (lading applies journaled writes to
 * its tree in the background) is counted in the phase that caused it, and not in the next. CPU is
 * their sum; RSS, at the start and at the peak, that of the one with the highest peak.
 */
export async function measurePhase(pids: readonly number[], work: () => Promise<number | PhaseResult>): Promise<Sample> {
  // What came before (set-up, warm-up) may still be running in the background: not this phase's.
  for (const pid of pids) await idle(pid);
  for (const pid of pids) resetPeak(pid);
  const startRss = new Map(pids.map((pid) => [pid, currentRss(pid)]));
  const cpu = (): number => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const cpu0 = cpu();
  const t0 = performance.now();
  const done = await work();
  const seconds = (performance.now() - t0) / 1000;
  const { units, extraCpuSeconds = 0, p99Ms } = typeof done === "number" ? { units: done } : done;
  let settleSeconds = 0;
  for (const pid of pids) settleSeconds += await idle(pid);
  const cpu1 = cpu();
  // The kernel syncs a thread's RSS count lazily: VmRSS read after the reset can pass VmHWM a little.
  const peaks = pids.map((pid) => ({ pid, peak: Math.max(peakRss(pid), startRss.get(pid)!) })).sort((a, b) => b.peak - a.peak);
  const top = peaks[0]!;
  return { seconds, units, cpuSeconds: cpu1 - cpu0 + extraCpuSeconds, peakRssBytes: top.peak, startRssBytes: startRss.get(top.pid)!, settleSeconds, ...(p99Ms === undefined ? {} : { p99Ms }) };
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
