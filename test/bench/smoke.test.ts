/**
 * The benchmark harness, end to end, at a tiny size: both registries started and stopped, every
 * workload run (those on S3 with the run's own Ceph gateway, see ./s3.test.ts), and the results file
 * holding every field for every scenario. No timing is asserted.
 * It writes into a temp dir (--out) and must leave the repository's BENCHMARKS.md alone.
 */
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { alternations } from "../../bench/workloads/mirror.js";
import { checkScenario, finite, obj, repoRoot, runBench, type Json } from "./support.js";

const scenarioIds = [
  "push.monolithic.big", "push.chunked.big", "push.streamed.big", "pull.big",
  "push.monolithic.huge", "push.chunked.huge", "push.streamed.huge", "pull.huge",
  "small.push", "small.head", "small.get",
  "manifest.put", "manifest.get-tag", "manifest.head", "manifest.get-digest",
  "tags.whole", "tags.paginated", "catalog.walk", "mounts", "merge", "gc.reads", "gc.collect", "ui.first", "ui.repositories", "ui.tags.first", "ui.tags",
  "mirror.cold", "mirror.warm", "mirror.local",
  ...["anonymous", "basic", "bearer"].flatMap((mode) => ["manifest-head", "manifest-get", "blob-head"].map((read) => `auth.${mode}.${read}`)),
  "s3.push.monolithic", "s3.push.chunked", "s3.pull", "s3.pull.redirect", "s3.small.push", "s3.small.head", "s3.small.get",
  "s3.manifest.put", "s3.manifest.get-tag", "s3.manifest.head", "s3.manifest.get-digest", "s3.tags.whole", "s3.tags.paginated",
  "s3.push.parallel", "s3.replicas.one", "s3.replicas.three",
];

const machineKeys = ["sha256", "diskWrite", "smallFsync", "upload", "uploadCpuPerGB", "download", "downloadCpuPerGB", "tinyGets", "tagLists", "tagWalks", "gatewayPut", "gatewayGet", "gatewaySmallPuts", "gatewaySmallGets"];

test("a tiny benchmark run reports every field for every scenario", { timeout: 600_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), "lading-bench-smoke-"));
  const repoMarkdown = join(repoRoot, "BENCHMARKS.md");
  const before = existsSync(repoMarkdown) ? statSync(repoMarkdown).mtimeMs : undefined;
  try {
    const sizes = ["--rounds", "1", "--big-mib", "1", "--big-count", "1", "--huge-mib", "2", "--small-blobs", "20", "--manifests", "10"];
    const counts = ["--tags", "10", "--tag-page", "3", "--repos", "10", "--catalog-page", "3", "--mounts", "10", "--merges", "1", "--auth-items", "5", "--machine-mib", "4"];
    const run = await runBench(["--quick", "--out", out, ...sizes, ...counts]);
    assert.equal(run.code, 0, `bench exited ${String(run.code)}\nstderr:\n${run.stderr.slice(-4000)}\nstdout:\n${run.stdout.slice(-2000)}`);

    const results = obj(JSON.parse(await readFile(join(out, "results.json"), "utf8")), "results");
    for (const key of ["startedAt", "finishedAt", "command"]) assert.equal(typeof results[key], "string", key);
    assert.ok(finite(results.durationSeconds) && results.durationSeconds > 0, "durationSeconds");
    assert.equal(results.rounds, 1);
    assert.equal(results.full, false, "a quick run is never a full run");
    for (const key of ["node", "kernel", "cpus", "reference", "commit"]) assert.ok(obj(results.environment, "environment")[key] !== undefined, `environment.${key}`);

    const machine = obj(results.machine, "machine");
    for (const key of machineKeys) {
      const stat = obj(machine[key], `machine.${key}`);
      assert.ok(Array.isArray(stat.values) && stat.values.length === 1, `machine.${key}.values`);
      assert.ok(finite(stat.median) && stat.median >= 0, `machine.${key}.median`);
    }

    const scenarios = results.scenarios as Json[];
    assert.deepEqual(scenarios.map((s) => s.id), scenarioIds);
    for (const s of scenarios) {
      if (s.id === "merge" && s.status === "not available") {
        assert.ok(typeof s.note === "string" && s.note.length > 0, "merge says why it is not available");
        continue;
      }
      // Warm and local pulls through the mirror are measured in turn, several times a round.
      checkScenario(s, s.id === "mirror.warm" || s.id === "mirror.local" ? alternations : 1);
    }

    // The tag lists are bounded by the same lists served by bare Node, measured in the same run.
    for (const id of ["tags.whole", "tags.paginated"]) {
      const s = scenarios.find((x) => x.id === id)!;
      assert.ok(finite(s.ofMachineLimit) && s.ofMachineLimit > 0, `${id}.ofMachineLimit`);
      assert.ok(finite(s.targetOfMachineLimit) && s.targetOfMachineLimit > 0, `${id}.targetOfMachineLimit`);
    }

    // The collection's reads are timed: p99 with and without a collection; the web UI's page loads too, and checked against their limit.
    for (const id of ["gc.reads", "gc.collect", "ui.first", "ui.repositories", "ui.tags.first", "ui.tags"]) {
      const p99 = obj(obj(scenarios.find((x) => x.id === id)!.lading, `${id}.lading`).p99Ms, `${id}.lading.p99Ms`);
      assert.ok(finite(p99.median) && p99.median > 0, `${id}.lading.p99Ms.median`);
    }

    const markdown = await readFile(join(out, "BENCHMARKS.md"), "utf8");
    for (const s of scenarios) assert.ok(markdown.includes(String(s.title)), `BENCHMARKS.md has a row for ${String(s.id)}`);
    assert.match(markdown, /Latency, p99 .*gc\.reads \(lading\) [\d.]+ ms, gc\.collect \(lading\) [\d.]+ ms, ui\.first \(lading\) [\d.,]+ ms/);
    for (const id of ["ui.first", "ui.repositories", "ui.tags.first", "ui.tags"]) {
      const checks = scenarios.find((x) => x.id === id)!.checks as Json[];
      assert.ok(checks.some((c) => c.what === "lading latency, p99 (median over rounds), ms" && c.want === "< 300" && finite(c.actual)), `${id} is checked against 300 ms`);
    }
    const svg = await readFile(join(out, "chart.svg"), "utf8");
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(svg.trimEnd().endsWith("</svg>"));

    // A finished run re-renders from its results file alone.
    const rendered = join(out, "rendered");
    const again = await runBench(["--render", join(out, "results.json"), "--out", rendered]);
    assert.equal(again.code, 0, again.stderr);
    const reread = JSON.parse(await readFile(join(rendered, "results.json"), "utf8")) as Json;
    assert.deepEqual(reread.scenarios, results.scenarios, "re-deriving changes nothing");
    assert.ok(existsSync(join(rendered, "BENCHMARKS.md")) && existsSync(join(rendered, "chart.svg")));
    assert.equal(existsSync(repoMarkdown) ? statSync(repoMarkdown).mtimeMs : undefined, before, "the repository's BENCHMARKS.md is untouched");
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
