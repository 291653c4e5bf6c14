/**
 * From raw samples to results: medians over rounds, lading/reference ratios, the targets
 * checked (informational: nothing here fails a run), and the JSON results file.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { machineFields, type MachineSample } from "./machine.js";
import type { Sample, Scenario } from "./scenarios.js";
import { registryKinds, type RegistryKind } from "./servers.js";

const MiB = 1 << 20;
export const rssLimitMiB = 128;

/** What the run collected, filled in as it goes. */
export interface Collected {
  samples: Map<string, Record<RegistryKind, Sample[]>>;
  errors: Map<string, Record<RegistryKind, string[]>>;
  /** Workload name → why it cannot run. */
  unavailable: Map<string, string>;
  /** Workloads left out by --only. */
  skipped: Set<string>;
  machine: MachineSample[];
}

export function collected(): Collected {
  return { samples: new Map(), errors: new Map(), unavailable: new Map(), skipped: new Set(), machine: [] };
}

export function record(c: Collected, id: string, kind: RegistryKind, sample: Sample): void {
  const entry = c.samples.get(id) ?? { lading: [], reference: [] };
  entry[kind].push(sample);
  c.samples.set(id, entry);
}

export function recordError(c: Collected, id: string, kind: RegistryKind, message: string): void {
  const entry = c.errors.get(id) ?? { lading: [], reference: [] };
  entry[kind].push(message);
  c.errors.set(id, entry);
}

export interface Stat {
  values: number[];
  median: number | null;
}

export interface RegistryResult {
  throughput: Stat;
  cpuPerUnit: Stat;
  peakRssMiB: { values: number[]; max: number | null };
  /** Seconds the server went on working after the phase's last answer (absent in older results). */
  settleSeconds?: Stat;
  /** RSS when the phase started, MiB (absent in older results). */
  startRssMiB?: Stat;
  /** The 99th percentile of request latencies, ms, where the workload timed them. */
  p99Ms?: Stat;
  errors: string[];
}

export interface Check {
  what: string;
  want: string;
  actual: number | null;
  met: boolean | null;
}

export type Status = "ok" | "failed" | "not available" | "skipped";

export interface ScenarioResult {
  id: string;
  workload: string;
  title: string;
  unit: string;
  /** What CPU is counted per for operations ("request", "walk", ...); "GB" for bytes. */
  per: string;
  cpuUnit: string;
  /** The lading/reference throughput ratio (at least) and CPU ratio (at most), if any. */
  target: number | null;
  cpuTarget: number | null;
  /** The scenario of the same run this one's lading figure is set against, and the cost allowed (see Scenario). */
  baseline: { id: string; maxCostPercent?: number } | null;
  /** Why the reference is not measured, when lading alone runs this scenario. */
  ladingOnly: string | null;
  /** lading's peak RSS wanted, MiB, when not `rssLimitMiB`; and the uploads in flight at once, if checked per upload (see Scenario). */
  rssLimitMiB: number | null;
  concurrentUploads: number | null;
  /** lading's p99 latency wanted (less than), ms. */
  p99LimitMs?: number | null;
  status: Status;
  note: string | null;
  lading: RegistryResult;
  reference: RegistryResult;
  /** lading/reference of the throughput medians (higher is better). */
  ratio: number | null;
  /** lading/reference of the CPU-per-unit medians (lower is better). */
  cpuRatio: number | null;
  /** 1 − lading's throughput median / lading's in the baseline scenario: the share lost (lower is better). */
  cost: number | null;
  /** lading's median as a fraction of the machine limit that bounds it. */
  ofMachineLimit: number | null;
  machineLimit: string | null;
  /** The throughput target (its ratio times the reference's median) as a fraction of that limit. */
  targetOfMachineLimit: number | null;
  checks: Check[];
}

export interface Results {
  tool: "lading bench";
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  full: boolean;
  quick: boolean;
  rounds: number;
  command: string;
  options: Record<string, number | boolean>;
  environment: Record<string, string | number>;
  machine: Record<keyof MachineSample, Stat>;
  scenarios: ScenarioResult[];
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const stat = (values: number[]): Stat => ({ values, median: median(values) });
const ratioOf = (a: number | null, b: number | null): number | null => (a === null || b === null || b === 0 ? null : a / b);
const costOf = (a: number | null, b: number | null): number | null => {
  const ratio = ratioOf(a, b);
  return ratio === null ? null : 1 - ratio;
};

/** The name of the check of a cost against a baseline, naming the baseline scenario. */
export const costCheckPrefix = "lading cost vs ";

function registryResult(s: Scenario, samples: Sample[], errors: string[]): RegistryResult {
  const throughput = samples.map((x) => (s.kind === "bytes" ? x.units / x.seconds / 1e6 : x.units / x.seconds));
  const cpu = samples.map((x) => (s.kind === "bytes" ? x.cpuSeconds / (x.units / 1e9) : (x.cpuSeconds * 1000) / x.units));
  const rss = samples.map((x) => x.peakRssBytes / MiB);
  const settle = samples.map((x) => x.settleSeconds);
  const start = samples.map((x) => x.startRssBytes / MiB);
  const p99 = samples.flatMap((x) => (x.p99Ms === undefined ? [] : [x.p99Ms]));
  return { throughput: stat(throughput), cpuPerUnit: stat(cpu), peakRssMiB: { values: rss, max: rss.length ? Math.max(...rss) : null }, settleSeconds: stat(settle), startRssMiB: stat(start), ...(p99.length > 0 ? { p99Ms: stat(p99) } : {}), errors };
}

/** The throughput the target asks for: its ratio times the reference's median. */
export function targetThroughput(s: ScenarioResult): number | null {
  return s.target === null || s.reference.throughput.median === null ? null : s.target * s.reference.throughput.median;
}

/**
 * The machine limit each kind of figure is bounded by: reads by tiny GETs (tag lists by the same
 * list from bare Node), writes by small fsyncs.
 */
function machineBound(s: ScenarioResult, machine: Results["machine"]): [string, number | null] {
  if (s.id.startsWith("s3.")) return gatewayBound(s, machine);
  if (s.id.startsWith("push.")) {
    const limits = (["sha256", "diskWrite", "upload"] as const).map((k) => machine[k].median).filter((v): v is number => v !== null);
    return ["min(sha256, disk write, loopback upload)", limits.length ? Math.min(...limits) : null];
  }
  if (s.id.startsWith("pull.")) return ["loopback download, verified", machine.download.median];
  if (["small.push", "manifest.put", "mounts"].includes(s.id)) return ["4 KiB create + write + fsync, one at a time", machine.smallFsync.median];
  if (s.id === "tags.whole") return ["the same list from bare Node", machine.tagLists.median];
  if (s.id === "tags.paginated") return ["the same walk on bare Node", machine.tagWalks.median];
  if (s.per === "request") return ["tiny GETs on bare Node", machine.tinyGets.median];
  return ["", null];
}

/**
 * On S3, the gateway's own rates measured from the workloads' client (gateway-probe.ts): big objects PUT and
 * GET, small ones PUT and GET at the workloads' concurrency. A registry's request is one or more
 * of the gateway's.
 */
function gatewayBound(s: ScenarioResult, machine: Results["machine"]): [string, number | null] {
  if (s.id.startsWith("s3.push.")) return ["S3 gateway PUT of the same size", machine.gatewayPut.median];
  if (s.id.startsWith("s3.pull")) return ["S3 gateway GET of the same size, verified", machine.gatewayGet.median];
  if (s.id === "s3.small.push" || s.id === "s3.manifest.put") return ["S3 gateway small PUTs", machine.gatewaySmallPuts.median];
  if (s.id.startsWith("s3.small.") || s.id.startsWith("s3.manifest.")) return ["S3 gateway small GETs", machine.gatewaySmallGets.median];
  // Tag lists are listings, the replicas' figure a mix: neither has one of the probes' limits.
  return ["", null];
}

export function summarize(scenarioList: Scenario[], c: Collected, meta: Omit<Results, "machine" | "scenarios">): Results {
  // The gateway's probes run only in rounds with S3 workloads.
  const machine = Object.fromEntries(machineFields.map(([key]) => [key, stat(c.machine.flatMap((m) => (m[key] === undefined ? [] : [m[key]])))])) as Results["machine"];
  const scenarios = scenarioList.map((s): ScenarioResult => {
    const samples = c.samples.get(s.id) ?? { lading: [], reference: [] };
    const errors = c.errors.get(s.id) ?? { lading: [], reference: [] };
    const [lading, reference] = registryKinds.map((k) => registryResult(s, samples[k], errors[k])) as [RegistryResult, RegistryResult];
    const unavailable = c.unavailable.get(s.workload);
    let status: Status = "ok";
    let note: string | null = null;
    if (c.skipped.has(s.workload)) [status, note] = ["skipped", "left out by --only"];
    else if (unavailable !== undefined) [status, note] = ["not available", unavailable];
    else if (errors.lading.length + errors.reference.length > 0) {
      status = "failed";
      note = registryKinds.flatMap((k) => errors[k].map((e) => `${k}: ${e}`)).join("\n");
    } else if (samples.lading.length === 0 || (samples.reference.length === 0 && s.ladingOnly === undefined)) [status, note] = ["failed", "no samples"];
    return {
      id: s.id, workload: s.workload, title: s.title, unit: s.unit, per: s.per, cpuUnit: s.kind === "bytes" ? "CPU-s/GB" : `CPU-ms/${s.per}`,
      target: s.target ?? null, cpuTarget: s.cpuTarget ?? null, baseline: s.baseline ?? null, ladingOnly: s.ladingOnly ?? null,
      rssLimitMiB: s.rssLimitMiB ?? null, concurrentUploads: s.concurrentUploads ?? null, p99LimitMs: s.p99LimitMs ?? null, status, note, lading, reference,
      ratio: null, cpuRatio: null, cost: null, ofMachineLimit: null, machineLimit: null, targetOfMachineLimit: null, checks: [],
    };
  });
  return derive({ ...meta, machine, scenarios });
}

/**
 * Ratios, machine bounds and target checks, from the medians alone: a results file can be
 * re-derived and re-rendered (`--render`) without running anything again.
 */
export function derive(results: Results): Results {
  // A results file from before a probe existed has no figure for it.
  for (const [key] of machineFields) results.machine[key] ??= stat([]);
  const byId = new Map(results.scenarios.map((s) => [s.id, s]));
  for (const s of results.scenarios) {
    const { lading, reference } = s;
    s.ratio = ratioOf(lading.throughput.median, reference.throughput.median);
    s.cpuRatio = ratioOf(lading.cpuPerUnit.median, reference.cpuPerUnit.median);
    s.cost = s.baseline === null ? null : costOf(lading.throughput.median, byId.get(s.baseline.id)?.lading.throughput.median ?? null);
    const [bound, limit] = machineBound(s, results.machine);
    s.ofMachineLimit = ratioOf(lading.throughput.median, limit);
    s.machineLimit = bound || null;
    s.targetOfMachineLimit = ratioOf(targetThroughput(s), limit);
    s.checks = [];
    const check = (what: string, want: string, actual: number | null, ok: (v: number) => boolean): void => {
      s.checks.push({ what, want, actual, met: actual === null ? null : ok(actual) });
    };
    const { target, cpuTarget } = s;
    if (target !== null) check("throughput ratio", `≥ ${target}×`, s.ratio, (v) => v >= target);
    if (cpuTarget !== null) check("server CPU per GB, ratio", `≤ ${cpuTarget}×`, s.cpuRatio, (v) => v <= cpuTarget);
    if (s.baseline?.maxCostPercent !== undefined) {
      // In percent, as the target is stated; a negative cost is a faster run than the baseline's. 0: at least as fast.
      const max = s.baseline.maxCostPercent;
      check(`${costCheckPrefix}${s.baseline.id} (1 − throughput ratio), %`, max === 0 ? "≤ 0%" : `< ${max}%`, s.cost === null ? null : s.cost * 100, (v) => (max === 0 ? v <= 0 : v < max));
    }
    if (s.id === "pull.big") check("lading pull / raw loopback download", "≥ 0.9×", ratioOf(lading.throughput.median, results.machine.download.median), (v) => v >= 0.9);
    if (s.id.startsWith("push.") && s.id.endsWith(".huge")) {
      const big = byId.get(s.id.replace(/huge$/, "big"));
      const size = /push (.+) blob/.exec(big?.title ?? "")?.[1] ?? "smaller";
      check(`lading peak RSS / that of the ${size} push, same mode`, "≤ 1.1×", ratioOf(lading.peakRssMiB.max, big?.lading.peakRssMiB.max ?? null), (v) => v <= 1.1);
    }
    const p99Limit = s.p99LimitMs ?? null;
    if (p99Limit !== null) check("lading latency, p99 (median over rounds), ms", `< ${p99Limit}`, lading.p99Ms?.median ?? null, (v) => v < p99Limit);
    const rssLimit = s.rssLimitMiB ?? rssLimitMiB;
    check("lading peak RSS, MiB", `≤ ${rssLimit}`, lading.peakRssMiB.max, (v) => v <= rssLimit);
    const uploads = s.concurrentUploads;
    if (uploads !== null) {
      // What each upload in flight adds: the peak over the RSS at the start, shared out; the bound is the limit's share.
      const share = rssLimit / uploads;
      const start = lading.startRssMiB?.median ?? null;
      const added = lading.peakRssMiB.max === null || start === null ? null : (lading.peakRssMiB.max - start) / uploads;
      check(`lading peak RSS over its start, per upload in flight (${uploads}), MiB`, `≤ ${Number(share.toFixed(2))}`, added, (v) => v <= share);
    }
  }
  return results;
}

export async function writeJson(results: Results, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, "results.json");
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

/** Every check that could be decided (both registries measured), in scenario order. */
export function verdicts(results: Results): Array<{ scenario: ScenarioResult; check: Check }> {
  return results.scenarios.flatMap((scenario) => scenario.checks.filter((c) => c.met !== null).map((check) => ({ scenario, check })));
}
