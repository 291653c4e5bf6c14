import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Robots } from "../../src/auth/robots.js";
import { runForStatus, type StatusResult } from "../helpers/exec-status.js";

const main = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

function lading(args: string[], env: NodeJS.ProcessEnv = withoutConfig()): Promise<StatusResult> {
  return runForStatus(process.execPath, [main, ...args], { env, timeoutMs: 30_000 });
}

function withoutConfig(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LADING_CONFIG;
  return env;
}

function oneLine(text: string): void {
  assert.equal(text.trim().split("\n").length, 1, `expected one line, got: ${text}`);
}

const day = 86_400_000;

interface Listed {
  name: string;
  repositories: string[];
  actions: string[];
  created: string;
  expires: string | null;
  expired: boolean;
}

describe("lading token", () => {
  let dir: string;
  let n = 0;
  const fresh = () => join(dir, `users-${++n}`);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lading-tokens-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("prints the secret alone on stdout and the rest on stderr, into a 0600 file beside the htpasswd file", async () => {
    const file = fresh();
    const created = await lading(["token", "create", "--name", "ci", "--repos", "team/*", "--actions", "pull,push", "--expires", "90d", "--htpasswd", file]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^lading_robot_ci_[0-9a-f]{64}\n$/);
    assert.match(created.stderr, /only this once/);
    assert.equal((await stat(`${file}.robots`)).mode & 0o777, 0o600);
    const stored = JSON.parse(await readFile(`${file}.robots`, "utf8")) as { robots: Array<Listed & { hash: string }> };
    const robot = stored.robots[0]!;
    assert.deepEqual([robot.name, robot.repositories, robot.actions], ["ci", ["team/*"], ["pull", "push"]]);
    assert.equal(Date.parse(robot.expires!) - Date.parse(robot.created), 90 * day);
    assert.ok(!(await readFile(`${file}.robots`, "utf8")).includes(created.stdout.trim()), "the secret itself is not stored");

    const listed = await lading(["token", "list", "--htpasswd", file]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^NAME +REPOSITORIES +ACTIONS +CREATED +EXPIRES\nci +team\/\* +pull,push +\S+ +\S+\n$/);
    assert.ok(!listed.stdout.includes(robot.hash));
    const json = await lading(["token", "list", "--htpasswd", file, "--json"]);
    const rows = (JSON.parse(json.stdout) as { robots: Array<Record<string, unknown>> }).robots;
    assert.deepEqual(rows, [{ name: "ci", repositories: ["team/*"], actions: ["pull", "push"], created: robot.created, expires: robot.expires, expired: false }]);
    assert.ok(!json.stdout.includes(robot.hash));
  });

  it("takes repeatable and comma-separated --repos and --actions, * for every action, and a never-expiring default", async () => {
    const file = fresh();
    const created = await lading(["token", "create", "--name", "deploy", "--repos", "a/**,b", "--repos", "c/?x", "--actions", "*", "--htpasswd", file, "--json"]);
    assert.equal(created.code, 0, created.stderr);
    const result = JSON.parse(created.stdout) as Listed & { secret: string };
    assert.deepEqual(result.repositories, ["a/**", "b", "c/?x"]);
    assert.deepEqual(result.actions, ["pull", "push", "delete"]);
    assert.equal(result.expires, null);
    assert.match(result.secret, /^lading_robot_deploy_/);
    assert.equal(created.stderr, "");
    const listed = await lading(["token", "list", "--htpasswd", file]);
    assert.match(listed.stdout, /deploy +a\/\*\*,b,c\/\?x +pull,push,delete +\S+ +never\n/);
  });

  it("parses --expires in days, hours, minutes and combinations", async () => {
    const file = fresh();
    const cases: Array<[string, number]> = [["90d", 90 * day], ["12h", 12 * 3_600_000], ["30m", 30 * 60_000], ["1d12h", 1.5 * day], ["2w", 14 * day]];
    for (const [i, [text, ms]] of cases.entries()) {
      const created = await lading(["token", "create", "--name", `e${i}`, "--repos", "x", "--actions", "pull", "--expires", text, "--htpasswd", file, "--json"]);
      assert.equal(created.code, 0, created.stderr);
      const r = JSON.parse(created.stdout) as Listed;
      assert.equal(Date.parse(r.expires!) - Date.parse(r.created), ms, text);
    }
    for (const bad of ["90x", "0d", "d", "-1h", "", "1.5d"]) {
      const result = await lading(["token", "create", "--name", "bad", "--repos", "x", "--actions", "pull", `--expires=${bad}`, "--htpasswd", file]);
      assert.equal(result.code, 2, bad);
      assert.match(result.stderr, /--expires/);
      oneLine(result.stderr);
    }
  });

  it("shows an expired token as expired", async () => {
    const file = fresh();
    const expired = { name: "old", hash: "00".repeat(32), repositories: ["x"], actions: ["pull"], created: "2020-01-01T00:00:00.000Z", expires: "2020-02-01T00:00:00.000Z" };
    await writeFile(`${file}.robots`, JSON.stringify({ robots: [expired] }));
    const listed = await lading(["token", "list", "--htpasswd", file]);
    assert.match(listed.stdout, /old .*2020-02-01T00:00:00\.000Z \(expired\)\n$/);
    const json = JSON.parse((await lading(["token", "list", "--htpasswd", file, "--json"])).stdout) as { robots: Listed[] };
    assert.equal(json.robots[0]!.expired, true);
  });

  it("exits 2 with one line on bad input, and writes nothing", async () => {
    const file = fresh();
    const base = ["token", "create", "--htpasswd", file];
    for (const [args, message] of [
      [["--name", "c_i", "--repos", "x", "--actions", "pull"], /invalid robot name/],
      [["--name", "-ci", "--repos", "x", "--actions", "pull"], /invalid robot name|argument missing/],
      [["--repos", "x", "--actions", "pull"], /--name/],
      [["--name", "ci", "--actions", "pull"], /--repos/],
      [["--name", "ci", "--repos", ",", "--actions", "pull"], /--repos/],
      [["--name", "ci", "--repos", "Team/*", "--actions", "pull"], /repository glob/],
      [["--name", "ci", "--repos", "x"], /--actions/],
      [["--name", "ci", "--repos", "x", "--actions", "pull,fly"], /unknown action "fly"/],
      [["--name", "ci", "--repos", "x", "--actions", "pull", "--bogus"], /unknown option/],
    ] as const) {
      const result = await lading([...base, ...args]);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, message);
      oneLine(result.stderr);
      assert.equal(result.stdout, "");
    }
    const json = await lading([...base, "--name", "ci", "--repos", "x", "--actions", "fly", "--json"]);
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.stdout), { error: { message: 'unknown action "fly": use pull, push, delete or *', exitCode: 2 } });
    await assert.rejects(stat(`${file}.robots`), /ENOENT/);
    const neither = await lading(["token", "list"]);
    assert.equal(neither.code, 2);
    oneLine(neither.stderr);
  });

  it("refuses a second token of the same name, and revokes", async () => {
    const file = fresh();
    const args = ["token", "create", "--name", "ci", "--repos", "x", "--actions", "pull", "--htpasswd", file];
    assert.equal((await lading(args)).code, 0);
    const again = await lading(args);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists/);
    assert.equal(again.stdout, "");
    const revoked = await lading(["token", "revoke", "ci", "--htpasswd", file, "--json"]);
    assert.deepEqual(JSON.parse(revoked.stdout), { name: "ci", revoked: true });
    assert.deepEqual(JSON.parse((await lading(["token", "list", "--htpasswd", file, "--json"])).stdout), { robots: [] });
    const unknown = await lading(["token", "revoke", "ci", "--htpasswd", file]);
    assert.equal(unknown.code, 1);
    oneLine(unknown.stderr);
  });

  it("finds the robots file from --robots, lading.auth.robots or the htpasswd path in a config", async () => {
    const robots = join(dir, "only.robots");
    assert.equal((await lading(["token", "create", "--name", "a", "--repos", "x", "--actions", "pull", "--robots", robots])).code, 0);
    assert.match(await readFile(robots, "utf8"), /"name": "a"/);
    const config = join(dir, "robots.yml");
    await writeFile(config, `auth:\n  htpasswd:\n    path: ${join(dir, "cfg-users")}\nlading:\n  auth:\n    robots: ${robots}\n`);
    const listed = await lading(["token", "list", "--json"], { ...withoutConfig(), LADING_CONFIG: config });
    assert.deepEqual((JSON.parse(listed.stdout) as { robots: Listed[] }).robots.map((r) => r.name), ["a"]);
    const defaulted = join(dir, "default.yml");
    await writeFile(defaulted, `auth:\n  htpasswd:\n    path: ${join(dir, "cfg-users")}\n`);
    assert.equal((await lading(["token", "create", "--name", "b", "--repos", "x", "--actions", "pull", "--config", defaulted])).code, 0);
    assert.match(await readFile(join(dir, "cfg-users.robots"), "utf8"), /"name": "b"/);
  });
});

describe("a robot secret printed by lading token create", () => {
  it("is accepted by Robots.verify, and refused after lading token revoke", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lading-robot-verify-"));
    try {
      const file = join(dir, "robots.json");
      const created = await lading(["token", "create", "--name", "ci", "--repos", "team/*", "--actions", "push", "--expires", "1d", "--robots", file]);
      assert.equal(created.code, 0, created.stderr);
      const secret = created.stdout.trim();
      const robot = (await Robots.load(file)).verify(secret);
      assert.equal(robot?.name, "ci");
      assert.deepEqual(robot.actions, ["push"]);
      const altered = `${secret.slice(0, -1)}${secret.endsWith("0") ? "1" : "0"}`;
      assert.equal((await Robots.load(file)).verify(altered), undefined, "one character off");
      assert.equal((await Robots.load(file)).verify(secret, Date.now() + 2 * day), undefined, "expired after a day");
      assert.equal((await lading(["token", "revoke", "ci", "--robots", file])).code, 0);
      assert.equal((await Robots.load(file)).verify(secret), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
