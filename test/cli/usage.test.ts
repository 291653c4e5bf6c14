/**
 * Usage errors exit 2 from every command, however they are found (by commander, by a flag's own
 * check, or in the command), and with --json they are a JSON object on stdout as well; a failure
 * that is not about usage keeps exit 1 and the same JSON form.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runLading } from "../helpers/lading-cli.js";

describe("usage errors", () => {
  const usage: [string, string[], RegExp][] = [
    ["an unknown flag", ["merge", "a", "b", "--tag", "c", "--concurrency", "2"], /unknown option '--concurrency'/],
    ["a time that is not RFC 3339", ["append", "a", "b", "--tag", "c", "--timestamp", "yesterday"], /"yesterday" is not an RFC 3339 time/],
    ["a malformed platform", ["inspect", "127.0.0.1:1/a:1", "--platform", "bogus"], /invalid platform "bogus"/],
    ["a malformed platform to set", ["mutate", "127.0.0.1:1/a:1", "--set-platform", "q"], /invalid platform "q"/],
    ["a count that is not one", ["push", "-j", "x", "a", "127.0.0.1:1/b:1"], /"x" is not a whole number of at least 1/],
    ["a zero page size", ["ls", "127.0.0.1:1/r", "--page-size", "0"], /"0" is not a whole number/],
    ["a malformed reference", ["inspect", "BAD REF"], /invalid repository name/],
    ["a missing argument", ["merge"], /usage: lading merge/],
  ];
  for (const [what, args, message] of usage) {
    it(`${what}: exit 2, the cause on stderr, and a JSON error with --json`, async () => {
      const text = await runLading(args);
      assert.equal(text.code, 2, text.stderr);
      assert.match(text.stderr, message);
      assert.equal(text.stdout, "");
      const json = await runLading([...args, "--json"]);
      assert.equal(json.code, 2, json.stderr);
      const parsed = JSON.parse(json.stdout) as { error: { message: string; exitCode: number } };
      assert.equal(parsed.error.exitCode, 2);
      assert.match(parsed.error.message, message);
    });
  }

  it("a failure that is not about usage exits 1, and says so in JSON too", async () => {
    const json = await runLading(["inspect", "127.0.0.1:1/nothing:here", "--json"]);
    assert.equal(json.code, 1);
    const parsed = JSON.parse(json.stdout) as { error: { message: string; exitCode: number } };
    assert.deepEqual([parsed.error.exitCode, /127\.0\.0\.1:1/.test(parsed.error.message)], [1, true]);
  });
});
