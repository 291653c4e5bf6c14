/**
 * What the benchmark's end-to-end tests share: running `dist/bench/main.js`, and the checks every
 * measured scenario of a results file must pass (every field present and sensible; no timing is
 * asserted).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export type Json = Record<string, unknown>;

export const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

export const obj = (v: unknown, what: string): Json => {
  assert.ok(typeof v === "object" && v !== null && !Array.isArray(v), `${what} is an object`);
  return v as Json;
};

export function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, "dist/bench/main.js"), ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** One registry's figures for a scenario measured in each of `rounds` rounds. */
function checkMeasured(r: Json, what: string, rounds: number): void {
  const throughput = obj(r.throughput, `${what}.throughput`);
  assert.ok(finite(throughput.median) && throughput.median > 0, `${what}.throughput.median`);
  assert.equal((throughput.values as unknown[]).length, rounds, `${what}.throughput.values`);
  const cpu = obj(r.cpuPerUnit, `${what}.cpuPerUnit`);
  assert.ok(finite(cpu.median) && cpu.median >= 0, `${what}.cpuPerUnit.median`);
  const rss = obj(r.peakRssMiB, `${what}.peakRssMiB`);
  assert.ok(finite(rss.max) && rss.max > 0, `${what}.peakRssMiB.max`);
  const settle = obj(r.settleSeconds, `${what}.settleSeconds`);
  assert.ok(finite(settle.median) && settle.median >= 0, `${what}.settleSeconds.median`);
  const start = obj(r.startRssMiB, `${what}.startRssMiB`);
  assert.ok(finite(start.median) && start.median > 0 && start.median <= (rss.max as number), `${what}.startRssMiB.median`);
  assert.deepEqual(r.errors, [], `${what}.errors`);
}

/**
 * A scenario that ran ("ok"): both registries' figures (lading's alone, and the reference's
 * empty, for a lading-only scenario), the ratios, the checks, and a cost against its baseline
 * when it has one.
 */
export function checkScenario(s: Json, rounds: number): void {
  const id = String(s.id);
  for (const key of ["workload", "title", "unit", "per", "cpuUnit"]) assert.equal(typeof s[key], "string", `${id}.${key}`);
  for (const key of ["target", "cpuTarget"]) assert.ok(s[key] === null || finite(s[key]), `${id}.${key}`);
  assert.ok(Array.isArray(s.checks), `${id}.checks`);
  assert.equal(s.status, "ok", `${id}: ${String(s.note)}`);
  checkMeasured(obj(s.lading, `${id}.lading`), `${id}.lading`, rounds);
  const checks = s.checks as Json[];
  if (s.ladingOnly === null) {
    checkMeasured(obj(s.reference, `${id}.reference`), `${id}.reference`, rounds);
    assert.ok(finite(s.ratio) && s.ratio > 0, `${id}.ratio`);
    // A tiny run can use less CPU than one clock tick: then the ratio is undefined, and null says so.
    assert.ok(s.cpuRatio === null || finite(s.cpuRatio), `${id}.cpuRatio`);
  } else {
    assert.ok(typeof s.ladingOnly === "string" && s.ladingOnly.length > 0, `${id} says why the reference is not measured`);
    const reference = obj(s.reference, `${id}.reference`);
    assert.deepEqual(obj(reference.throughput, `${id}.reference.throughput`).values, [], `${id}: the reference did not run`);
    assert.equal(s.ratio, null, `${id}.ratio`);
    assert.ok(!checks.some((c) => c.what === "throughput ratio"), `${id} has no throughput target`);
  }
  if (s.baseline === null) assert.equal(s.cost, null, `${id}.cost`);
  else {
    const baseline = obj(s.baseline, `${id}.baseline`);
    assert.equal(typeof baseline.id, "string", `${id}.baseline.id`);
    // 1 − this / baseline: below 1 while this one measured anything; negative when it beat its baseline.
    assert.ok(finite(s.cost) && s.cost < 1, `${id}.cost`);
    const cost = checks.find((c) => String(c.what).startsWith(`lading cost vs ${String(baseline.id)}`));
    if (baseline.maxCostPercent === undefined) {
      // Reported, not checked (three replicas against one).
      assert.equal(cost, undefined, `${id} has no cost target`);
    } else {
      assert.ok(finite(baseline.maxCostPercent) && baseline.maxCostPercent >= 0, `${id}.baseline.maxCostPercent`);
      assert.ok(cost !== undefined, `${id} checks its cost`);
      assert.equal(cost.actual, s.cost * 100, `${id}: the cost check is the cost, in percent`);
      // 0 asks for at least the baseline's throughput; more, for less than that share lost.
      const met = baseline.maxCostPercent === 0 ? s.cost <= 0 : s.cost * 100 < baseline.maxCostPercent;
      assert.equal(cost.met, met, `${id}: the cost check's verdict`);
    }
  }
  assert.ok("ofMachineLimit" in s && "machineLimit" in s && "targetOfMachineLimit" in s, `${id}.ofMachineLimit`);
  for (const check of checks) {
    for (const key of ["what", "want"]) assert.equal(typeof check[key], "string", `${id} check ${key}`);
    assert.ok(check.actual === null || finite(check.actual), `${id} check actual`);
    assert.ok(check.met === null || typeof check.met === "boolean", `${id} check met`);
  }
  assert.ok(checks.some((c) => c.what === "lading peak RSS, MiB"), `${id} checks peak RSS`);
}
