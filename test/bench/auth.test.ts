/**
 * The access-control workloads, end to end, at a tiny size: lading without access control, with
 * Basic credentials and with its own bearer tokens, the reference without and with Basic; every
 * field of their scenarios, the costs against the baseline in the results, the Targets table and
 * the cost table. No timing is asserted.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkScenario, obj, runBench, type Json } from "./support.js";

const reads = ["manifest-head", "manifest-get", "blob-head"];

test("a tiny run of the access-control workloads reports every field, the costs and the ratios", { timeout: 300_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), "lading-bench-auth-"));
  try {
    // Basic and bearer only: their baseline (the anonymous workload) must come along by itself.
    const run = await runBench(["--quick", "--only", "auth.basic,auth.bearer", "--auth-items", "5", "--machine-mib", "4", "--out", out]);
    assert.equal(run.code, 0, `bench exited ${String(run.code)}\nstderr:\n${run.stderr.slice(-4000)}\nstdout:\n${run.stdout.slice(-2000)}`);
    const results = obj(JSON.parse(await readFile(join(out, "results.json"), "utf8")), "results");
    const scenarios = results.scenarios as Json[];
    const byId = new Map(scenarios.map((s) => [String(s.id), s]));

    for (const s of scenarios) if (!String(s.id).startsWith("auth.")) assert.equal(s.status, "skipped", `${String(s.id)} is left out`);
    for (const mode of ["anonymous", "basic", "bearer"]) {
      for (const read of reads) {
        const id = `auth.${mode}.${read}`;
        const s = byId.get(id);
        assert.ok(s !== undefined, `${id} is reported`);
        checkScenario(s, 1);
        assert.equal(s.workload, `auth-${mode}`);
        const checks = (s.checks as Json[]).map((c) => c.what);
        if (mode === "anonymous") {
          assert.equal(s.baseline, null, `${id} is the baseline`);
        } else {
          assert.deepEqual(s.baseline, { id: `auth.anonymous.${read}`, maxCostPercent: 20 }, `${id}'s baseline`);
        }
        if (mode === "basic") {
          assert.equal(s.target, 20, `${id}: 20× the reference's Basic reads`);
          assert.ok(checks.includes("throughput ratio"), `${id} checks its ratio`);
        } else {
          assert.equal(s.target, null, `${id} has no ratio target`);
        }
        assert.equal(s.ladingOnly === null, mode !== "bearer", `${id}: only bearer reads run on lading alone`);
      }
    }

    const markdown = await readFile(join(out, "BENCHMARKS.md"), "utf8");
    for (const s of scenarios.filter((x) => String(x.id).startsWith("auth."))) assert.ok(markdown.includes(String(s.title)), `BENCHMARKS.md has a row for ${String(s.id)}`);
    for (const mode of ["basic", "bearer"]) {
      for (const read of reads) {
        // The Targets table: | scenario | check | want | actual | verdict |
        const row = new RegExp(`^\\| auth\\.${mode}\\.${read} \\| lading cost vs auth\\.anonymous\\.${read} .*\\| < 20% \\| -?[\\d.,]+ \\| (met|\\*\\*not met\\*\\*) \\|$`, "m");
        assert.match(markdown, row, `the Targets table has ${mode} ${read}'s cost`);
      }
    }
    assert.match(markdown, /^\| scenario \| lading \| baseline \| lading there \| cost \| target \|$/m, "the cost table");
    assert.match(markdown, /Measured on lading alone: `auth\.bearer\.manifest-head`, `auth\.bearer\.manifest-get`, `auth\.bearer\.blob-head` \(the reference's token mode needs an external token server\)\./);

    // A finished run re-renders from its results file alone, lading-only scenarios and costs included.
    const rendered = join(out, "rendered");
    const again = await runBench(["--render", join(out, "results.json"), "--out", rendered]);
    assert.equal(again.code, 0, again.stderr);
    const reread = JSON.parse(await readFile(join(rendered, "results.json"), "utf8")) as Json;
    assert.deepEqual(reread.scenarios, results.scenarios, "re-deriving changes nothing");
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
