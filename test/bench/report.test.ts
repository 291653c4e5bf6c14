/**
 * Deriving a results file: a throughput target set against the machine limit that bounds it, files
 * written before a machine probe existed, and costs against a baseline with a scenario measured on
 * lading alone.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { machineFields, type MachineSample } from "../../bench/machine.js";
import { markdown } from "../../bench/markdown.js";
import { collected, derive, record, summarize, type RegistryResult, type Results, type ScenarioResult, type Stat } from "../../bench/report.js";
import type { Sample, Scenario } from "../../bench/scenarios.js";

const stat = (...values: number[]): Stat => ({ values, median: values.length ? values[(values.length - 1) >> 1]! : null });

function registry(throughput: number): RegistryResult {
  return { throughput: stat(throughput), cpuPerUnit: stat(0.2), peakRssMiB: { values: [80], max: 80 }, settleSeconds: stat(0), errors: [] };
}

function walkScenario(lading: number, reference: number): ScenarioResult {
  return {
    id: "tags.paginated", workload: "tags", title: "tag list of 1000 tags, walked n=100, concurrency 32", unit: "walks/s", per: "walk", cpuUnit: "CPU-ms/walk",
    target: 4, cpuTarget: null, baseline: null, ladingOnly: null, rssLimitMiB: null, concurrentUploads: null, status: "ok", note: null, lading: registry(lading), reference: registry(reference),
    ratio: null, cpuRatio: null, cost: null, ofMachineLimit: null, machineLimit: null, targetOfMachineLimit: null, checks: [],
  };
}

function results(machine: Partial<Record<keyof MachineSample, Stat>>, scenario: ScenarioResult): Results {
  return {
    tool: "lading bench", startedAt: "2026-11-24T00:00:00.000Z", finishedAt: "2026-11-24T00:08:00.000Z", durationSeconds: 480,
    full: true, quick: false, rounds: 1, command: "npm run bench", options: {},
    environment: { cpus: 2, cpuModel: "test", node: "v20", kernel: "6", reference: "registry", commit: "0000000" },
    machine: machine as Results["machine"], scenarios: [scenario],
  };
}

test("an unmet throughput target is set against the machine limit that bounds it", () => {
  const machine = Object.fromEntries(machineFields.map(([key]) => [key, stat(1000)])) as Record<keyof MachineSample, Stat>;
  machine.tagWalks = stat(5000);
  const r = derive(results(machine, walkScenario(4400, 1500)));
  const s = r.scenarios[0]!;
  assert.equal(s.machineLimit, "the same walk on bare Node");
  assert.equal(s.ofMachineLimit, 4400 / 5000);
  assert.equal(s.targetOfMachineLimit, (4 * 1500) / 5000);
  assert.deepEqual(s.checks.find((c) => c.what === "throughput ratio"), { what: "throughput ratio", want: "≥ 4×", actual: 4400 / 1500, met: false });
  const text = markdown(r, "/x/chart.svg", "/x/BENCHMARKS.md");
  assert.match(text, /- `tags.paginated`: 4× the reference is 6,000 walks\/s, 120% of the same walk on bare Node \(lading: 88%\)\./);

  const met = derive(results(machine, walkScenario(6600, 1500)));
  assert.equal(met.scenarios[0]!.checks.find((c) => c.what === "throughput ratio")?.met, true);
  assert.doesNotMatch(markdown(met, "/x/chart.svg", "/x/BENCHMARKS.md"), /What the unmet throughput targets would take/);
});

test("a results file from before a probe existed derives and renders without it", () => {
  const machine = Object.fromEntries(machineFields.filter(([key]) => key !== "tagLists" && key !== "tagWalks").map(([key]) => [key, stat(1000)]));
  const r = derive(results(machine, walkScenario(4400, 1500)));
  assert.deepEqual(r.machine.tagWalks, { values: [], median: null });
  assert.equal(r.scenarios[0]!.ofMachineLimit, null);
  assert.equal(r.scenarios[0]!.targetOfMachineLimit, null);
  assert.match(markdown(r, "/x/chart.svg", "/x/BENCHMARKS.md"), /\| the tag list walked page by page, from a bare Node http server \| — walks\/s \|/);
});

test("a cost is checked against its baseline's lading figure, and a lading-only scenario needs no reference", () => {
  const scenario = (id: string, extra: Partial<Scenario> = {}): Scenario => ({ id, workload: id.split(".").slice(0, 2).join("-"), title: id, kind: "ops", unit: "req/s", per: "request", ...extra });
  const list = [
    scenario("auth.anonymous.blob-head"),
    scenario("auth.basic.blob-head", { target: 20, baseline: { id: "auth.anonymous.blob-head", maxCostPercent: 20 } }),
    scenario("auth.bearer.blob-head", { baseline: { id: "auth.anonymous.blob-head", maxCostPercent: 20 }, ladingOnly: "no token server" }),
  ];
  const c = collected();
  const sample = (perSecond: number): Sample => ({ seconds: 1, units: perSecond, cpuSeconds: 0.5, peakRssBytes: 80 << 20, startRssBytes: 60 << 20, settleSeconds: 0 });
  record(c, "auth.anonymous.blob-head", "lading", sample(10_000));
  record(c, "auth.anonymous.blob-head", "reference", sample(800));
  record(c, "auth.basic.blob-head", "lading", sample(7_000));
  record(c, "auth.basic.blob-head", "reference", sample(25));
  record(c, "auth.bearer.blob-head", "lading", sample(9_000));
  const r = summarize(list, c, {
    tool: "lading bench", startedAt: "2026-11-24T00:00:00.000Z", finishedAt: "2026-11-24T00:01:00.000Z", durationSeconds: 60,
    full: false, quick: true, rounds: 1, command: "npm run bench -- --only auth", options: {}, environment: {},
  });
  const [anonymous, basic, bearer] = r.scenarios as [ScenarioResult, ScenarioResult, ScenarioResult];
  assert.deepEqual(r.scenarios.map((s) => s.status), ["ok", "ok", "ok"]);
  assert.equal(anonymous.cost, null);
  assert.equal(basic.ratio, 7_000 / 25);
  assert.ok(Math.abs(basic.cost! - 0.3) < 1e-12);
  assert.deepEqual(basic.checks.find((x) => x.what.startsWith("lading cost vs "))?.met, false);
  assert.equal(basic.checks.find((x) => x.what === "throughput ratio")?.met, true);
  assert.equal(bearer.ratio, null);
  assert.ok(Math.abs(bearer.cost! - 0.1) < 1e-12);
  assert.deepEqual(bearer.checks.find((x) => x.what.startsWith("lading cost vs ")), {
    what: "lading cost vs auth.anonymous.blob-head (1 − throughput ratio), %", want: "< 20%", actual: bearer.cost! * 100, met: true,
  });
  assert.equal(bearer.checks.find((x) => x.what === "throughput ratio"), undefined);

  const text = markdown(r, "/x/chart.svg", "/x/BENCHMARKS.md");
  assert.match(text, /^\| auth\.basic\.blob-head \| 7,000 req\/s \| `auth\.anonymous\.blob-head` \| 10,000 req\/s \| 30\.0% \| < 20% \*\*not met\*\* \|$/m);
  assert.match(text, /^\| auth\.bearer\.blob-head \| 9,000 req\/s \| not measured \| — \|/m);
  assert.match(text, /^\| auth\.bearer\.blob-head \| lading cost vs auth\.anonymous\.blob-head \(1 − throughput ratio\), % \| < 20% \| 10\.0+ \| met \|$/m);
  assert.match(text, /Measured on lading alone: `auth\.bearer\.blob-head` \(no token server\)\./);
});

test("on S3: a scenario's own RSS bound, the per-upload figure, a baseline without a target and the gateway's limits", () => {
  const scenario = (id: string, extra: Partial<Scenario> = {}): Scenario => ({ id, workload: "s3-x", title: id, kind: "ops", unit: "req/s", per: "request", ...extra });
  const list = [
    scenario("s3.push.parallel", { kind: "bytes", unit: "MB/s", per: "GB", ladingOnly: "memory", rssLimitMiB: 256, concurrentUploads: 16 }),
    scenario("s3.manifest.get-tag", { target: 3 }),
    scenario("s3.replicas.one", { per: "op", ladingOnly: "replicas" }),
    scenario("s3.replicas.three", { per: "op", ladingOnly: "replicas", baseline: { id: "s3.replicas.one" } }),
  ];
  const c = collected();
  const MiB = 1 << 20;
  record(c, "s3.push.parallel", "lading", { seconds: 10, units: 4096 * MiB, cpuSeconds: 20, peakRssBytes: 420 * MiB, startRssBytes: 100 * MiB, settleSeconds: 0 });
  record(c, "s3.manifest.get-tag", "lading", { seconds: 1, units: 400, cpuSeconds: 0.8, peakRssBytes: 110 * MiB, startRssBytes: 100 * MiB, settleSeconds: 0 });
  record(c, "s3.manifest.get-tag", "reference", { seconds: 1, units: 200, cpuSeconds: 0.5, peakRssBytes: 50 * MiB, startRssBytes: 40 * MiB, settleSeconds: 0 });
  record(c, "s3.replicas.one", "lading", { seconds: 1, units: 100, cpuSeconds: 0.5, peakRssBytes: 100 * MiB, startRssBytes: 90 * MiB, settleSeconds: 0 });
  record(c, "s3.replicas.three", "lading", { seconds: 1, units: 120, cpuSeconds: 0.7, peakRssBytes: 100 * MiB, startRssBytes: 90 * MiB, settleSeconds: 0 });
  c.machine.push({ sha256: 1, diskWrite: 1, smallFsync: 1, upload: 1, uploadCpuPerGB: 1, download: 1, downloadCpuPerGB: 1, tinyGets: 1, tagLists: 1, tagWalks: 1, gatewayPut: 200, gatewayGet: 300, gatewaySmallPuts: 1000, gatewaySmallGets: 2000 });
  const r = summarize(list, c, {
    tool: "lading bench", startedAt: "2026-11-24T00:00:00.000Z", finishedAt: "2026-11-24T00:01:00.000Z", durationSeconds: 60,
    full: false, quick: true, rounds: 1, command: "npm run bench -- --only s3", options: {}, environment: {},
  });
  const [parallel, getTag, , three] = r.scenarios as [ScenarioResult, ScenarioResult, ScenarioResult, ScenarioResult];
  assert.deepEqual(parallel.checks.find((x) => x.what === "lading peak RSS, MiB"), { what: "lading peak RSS, MiB", want: "≤ 256", actual: 420, met: false });
  assert.deepEqual(parallel.checks.find((x) => x.what.startsWith("lading peak RSS over its start")), {
    what: "lading peak RSS over its start, per upload in flight (16), MiB", want: "≤ 16", actual: (420 - 100) / 16, met: false,
  });
  assert.equal(parallel.machineLimit, "S3 gateway PUT of the same size");
  assert.equal(parallel.ofMachineLimit, (4096 * MiB) / 10 / 1e6 / 200);
  assert.equal(getTag.checks.find((x) => x.what === "lading peak RSS, MiB")?.want, "≤ 128", "the default bound elsewhere");
  assert.equal(getTag.machineLimit, "S3 gateway small GETs");
  assert.equal(getTag.targetOfMachineLimit, (3 * 200) / 2000);
  assert.ok(Math.abs(three.cost! - -0.2) < 1e-12, "three replicas against one: 20% more");
  assert.equal(three.checks.find((x) => x.what.startsWith("lading cost vs ")), undefined, "reported, not checked");
  const text = markdown(r, "/x/chart.svg", "/x/BENCHMARKS.md");
  assert.match(text, /^\| s3\.replicas\.three \| 120 req\/s \| `s3\.replicas\.one` \| 100 req\/s \| -20\.0% \|  \|$/m);
  assert.match(text, /^\| S3 gateway: small-blob-sized PUTs at the workloads' concurrency \| 1,000 \/s \| 1,000 \|$/m);
});
