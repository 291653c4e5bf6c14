/**
 * The S3 workloads, end to end, at a tiny size, selected with `--only s3`: the run starts its own
 * Ceph gateway once and stops it by its PIDs; every S3 scenario reports every field, the issue's
 * targets, the memory check of many uploads at once, three replicas against one, and the
 * gateway's own limits in the machine table. No timing is asserted.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkScenario, finite, obj, runBench, type Json } from "./support.js";

const targets: Record<string, number | null> = {
  "s3.push.monolithic": 1.5,
  "s3.push.chunked": 1.5,
  "s3.pull": 1,
  "s3.pull.redirect": null,
  "s3.small.push": 1.5,
  "s3.small.head": null,
  "s3.small.get": null,
  "s3.manifest.put": 3,
  "s3.manifest.get-tag": 3,
  "s3.manifest.head": 3,
  "s3.manifest.get-digest": 3,
  "s3.tags.whole": 3,
  "s3.tags.paginated": null,
  "s3.push.parallel": null,
  "s3.replicas.one": null,
  "s3.replicas.three": null,
};
/** The scenarios whose figure is set against one of the gateway's own limits. */
const bounded = ["s3.push.monolithic", "s3.push.chunked", "s3.pull", "s3.pull.redirect", "s3.small.push", "s3.small.head", "s3.small.get", "s3.manifest.put", "s3.manifest.get-tag", "s3.manifest.head", "s3.manifest.get-digest", "s3.push.parallel"];
const gatewayKeys = ["gatewayPut", "gatewayGet", "gatewaySmallPuts", "gatewaySmallGets"];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("a tiny run of the S3 workloads reports every field, the targets, the memory check and the replicas", { timeout: 600_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), "lading-bench-s3-"));
  try {
    const sizes = ["--big-mib", "1", "--big-count", "1", "--chunk-kib", "256", "--small-blobs", "10", "--manifests", "5", "--tags", "5", "--tag-page", "2"];
    const s3 = ["--parallel-pushes", "2", "--parallel-mib", "1", "--replica-ops", "12"];
    const run = await runBench(["--quick", "--only", "s3", "--machine-mib", "4", "--out", out, ...sizes, ...s3]);
    assert.equal(run.code, 0, `bench exited ${String(run.code)}\nstderr:\n${run.stderr.slice(-4000)}\nstdout:\n${run.stdout.slice(-2000)}`);

    // One gateway for the run, stopped by its PIDs before the bench exits.
    const started = [...run.stderr.matchAll(/up at http:\/\/127\.0\.0\.1:\d+ in [\d.]+ s \(PIDs ([\d, ]+)\)/g)];
    assert.equal(started.length, 1, `the gateway starts once:\n${run.stderr.slice(-2000)}`);
    const pids = started[0]![1]!.split(",").map(Number);
    assert.equal(pids.length, 3, "the gateway, the OSD and the monitor");
    for (const pid of pids) assert.ok(!alive(pid), `Ceph daemon ${pid} was stopped`);

    const results = obj(JSON.parse(await readFile(join(out, "results.json"), "utf8")), "results");
    const scenarios = results.scenarios as Json[];
    const byId = new Map(scenarios.map((s) => [String(s.id), s]));
    for (const s of scenarios) if (!String(s.id).startsWith("s3.")) assert.equal(s.status, "skipped", `${String(s.id)} is left out`);
    assert.deepEqual(scenarios.filter((s) => String(s.id).startsWith("s3.")).map((s) => s.id), Object.keys(targets), "every S3 scenario, in order");

    for (const [id, target] of Object.entries(targets)) {
      const s = byId.get(id)!;
      checkScenario(s, 1);
      assert.match(String(s.workload), /^s3-/, `${id} runs in an S3 workload`);
      assert.equal(s.target, target, `${id}'s target`);
      const checks = (s.checks as Json[]).map((c) => c.what);
      assert.equal(checks.includes("throughput ratio"), target !== null, `${id} checks its ratio when it has a target`);
      if (bounded.includes(id)) {
        assert.match(String(s.machineLimit), /^S3 gateway /, `${id} is set against the gateway`);
        assert.ok(finite(s.ofMachineLimit) && s.ofMachineLimit > 0, `${id}.ofMachineLimit`);
      }
    }

    // The memory check: lading alone, its peak RSS under the 256 MiB, and per upload in flight.
    const parallel = byId.get("s3.push.parallel")!;
    assert.ok(typeof parallel.ladingOnly === "string", "the memory check runs on lading alone");
    assert.equal(parallel.rssLimitMiB, 256);
    assert.equal(parallel.concurrentUploads, 2);
    const rss = (parallel.checks as Json[]).find((c) => c.what === "lading peak RSS, MiB");
    assert.equal(rss?.want, "≤ 256");
    const perUpload = (parallel.checks as Json[]).find((c) => String(c.what).startsWith("lading peak RSS over its start, per upload in flight (2)"));
    assert.ok(perUpload !== undefined, "the per-upload figure is checked");
    assert.equal(perUpload.want, "≤ 128");
    assert.ok(finite(perUpload.actual) && perUpload.actual >= 0, "the per-upload figure");
    for (const id of Object.keys(targets).filter((x) => x !== "s3.push.parallel")) {
      assert.equal((byId.get(id)!.checks as Json[]).find((c) => c.what === "lading peak RSS, MiB")?.want, "≤ 128", `${id}: the default RSS bound`);
    }

    // Three replicas against one: lading alone, the figure reported against its baseline, no target.
    const three = byId.get("s3.replicas.three")!;
    assert.deepEqual(three.baseline, { id: "s3.replicas.one" });
    assert.ok(typeof three.ladingOnly === "string" && typeof byId.get("s3.replicas.one")!.ladingOnly === "string");

    // The gateway's own limits, measured in the round.
    const machine = obj(results.machine, "machine");
    for (const key of gatewayKeys) {
      const stat = obj(machine[key], `machine.${key}`);
      assert.equal((stat.values as unknown[]).length, 1, `machine.${key}.values`);
      assert.ok(finite(stat.median) && stat.median > 0, `machine.${key}.median`);
    }

    const markdown = await readFile(join(out, "BENCHMARKS.md"), "utf8");
    for (const id of Object.keys(targets)) assert.ok(markdown.includes(String(byId.get(id)!.title)), `BENCHMARKS.md has a row for ${id}`);
    // The Targets table: | scenario | check | want | actual | verdict |
    const row = (id: string, what: string, want: string): RegExp => new RegExp(`^\\| ${id.replace(/\./g, "\\.")} \\| ${what} \\| ${want} \\| -?[\\d.,]+ \\| (met|\\*\\*not met\\*\\*) \\|$`, "m");
    for (const [id, target] of Object.entries(targets)) if (target !== null) assert.match(markdown, row(id, "throughput ratio", `≥ ${target}×`), `the Targets table has ${id}'s ratio`);
    assert.match(markdown, row("s3.push.parallel", "lading peak RSS, MiB", "≤ 256"), "the Targets table has the memory check");
    assert.match(markdown, row("s3.push.parallel", "lading peak RSS over its start, per upload in flight \\(2\\), MiB", "≤ 128"), "and its per-upload figure");
    assert.match(markdown, /^\| S3: three lading replicas on the same bucket, .* \| `s3\.replicas\.one` \| [\d.,]+ ops\/s \| -?[\d.,]+% \|  \|$/m, "the replicas in the cost table, without a target");
    assert.match(markdown, /^\| S3 gateway \(Ceph RGW, in RAM\): PUT of a '64 MiB' object, one at a time, presigned \| [\d.,]+ MB\/s \|/m, "the gateway in the machine table");

    // A finished run re-renders from its results file alone.
    const rendered = join(out, "rendered");
    const again = await runBench(["--render", join(out, "results.json"), "--out", rendered]);
    assert.equal(again.code, 0, again.stderr);
    const reread = JSON.parse(await readFile(join(rendered, "results.json"), "utf8")) as Json;
    assert.deepEqual(reread.scenarios, results.scenarios, "re-deriving changes nothing");
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
