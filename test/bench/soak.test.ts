/**
 * The soak command, short: 200 clients for a few seconds against lading's default limits. It must
 * finish with no error and flat memory (its own exit code), having pushed and pulled, and print its
 * figures. No timing is asserted.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { repoRoot } from "./support.js";

test("npm run soak: 200 clients push and pull overlapping images with no error and flat memory", { timeout: 120_000 }, () => {
  const run = spawnSync(process.execPath, [join(repoRoot, "dist/bench/soak.js"), "--clients", "200", "--seconds", "8"], { encoding: "utf8" });
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /^soak: 200 clients for \d+ s/m);
  const pushes = Number(/pushes (\d+)/.exec(run.stdout)?.[1]);
  const pulls = Number(/pulls (\d+)/.exec(run.stdout)?.[1]);
  assert.ok(pushes > 0 && pulls > 0, run.stdout);
  assert.match(run.stdout, /^ {2}errors: 0$/m);
  assert.match(run.stdout, /server RSS: .* \(flat\)$/m);
});
