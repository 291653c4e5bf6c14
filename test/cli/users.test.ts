import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { requireTools } from "../helpers/exec.js";
import { runForStatus, type StatusResult } from "../helpers/exec-status.js";

const main = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

/** Runs the built CLI with stdin a pipe (never a terminal), as a script would. */
function lading(args: string[], input = "", env: NodeJS.ProcessEnv = withoutConfig()): Promise<StatusResult> {
  return runForStatus(process.execPath, [main, ...args], { input, env, timeoutMs: 30_000 });
}

function withoutConfig(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LADING_CONFIG;
  return env;
}

/** Debian's htpasswd, the reference for what registry:2 accepts: true when the password is right. */
function htpasswdVerifies(file: string, user: string, password: string): boolean {
  return spawnSync("htpasswd", ["-vb", file, user, password], { encoding: "utf8" }).status === 0;
}

function oneLine(text: string): void {
  assert.equal(text.trim().split("\n").length, 1, `expected one line, got: ${text}`);
}

describe("lading user", () => {
  let dir: string;
  let n = 0;
  /** A fresh htpasswd path per test: tests do not share users. */
  const fresh = () => join(dir, `users-${++n}`);
  before(async () => {
    requireTools("htpasswd", "script");
    dir = await mkdtemp(join(tmpdir(), "lading-users-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("adds a user with groups, in files htpasswd verifies, mode 0600", async () => {
    const file = fresh();
    const added = await lading(["user", "add", "alice", "--htpasswd", file, "--group", "dev", "-g", "admin,ops", "--password-stdin"], "s3cret pass\n");
    assert.equal(added.code, 0, added.stderr);
    assert.ok(htpasswdVerifies(file, "alice", "s3cret pass"));
    assert.ok(!htpasswdVerifies(file, "alice", "wrong"));
    assert.match(await readFile(file, "utf8"), /^alice:\$2[aby]\$12\$/);
    assert.equal(await readFile(`${file}.groups`, "utf8"), "alice:admin,dev,ops\n");
    for (const f of [file, `${file}.groups`]) assert.equal((await stat(f)).mode & 0o777, 0o600, f);
  });

  it("refuses an existing user and leaves the file alone", async () => {
    const file = fresh();
    assert.equal((await lading(["user", "add", "bob", "--htpasswd", file, "--password-stdin"], "first\n")).code, 0);
    const before = await readFile(file, "utf8");
    const again = await lading(["user", "add", "bob", "--htpasswd", file, "--password-stdin"], "second\n");
    assert.equal(again.code, 1);
    assert.match(again.stderr, /user bob exists/);
    oneLine(again.stderr);
    assert.equal(await readFile(file, "utf8"), before);
  });

  it("never takes the password from argv", async () => {
    const file = fresh();
    for (const args of [
      ["user", "add", "carol", "--password", "hunter2"],
      ["user", "add", "carol", "-p", "hunter2"],
      ["user", "add", "carol", "hunter2", "--password-stdin"],
      ["user", "passwd", "carol", "--password=hunter2"],
    ]) {
      const result = await lading([...args, "--htpasswd", file], "hunter2\n");
      assert.equal(result.code, 2, args.join(" "));
      oneLine(result.stderr);
    }
    await assert.rejects(stat(file), /ENOENT/);
  });

  it("refuses an empty password, stdin of two lines, and no terminal without --password-stdin", async () => {
    const file = fresh();
    for (const [input, flags, message] of [
      ["\n", ["--password-stdin"], /empty password/],
      ["", ["--password-stdin"], /empty password/],
      ["one\ntwo\n", ["--password-stdin"], /one line/],
      ["pw\n", [], /--password-stdin/],
    ] as const) {
      const result = await lading(["user", "add", "dave", "--htpasswd", file, ...flags], input);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, message);
      oneLine(result.stderr);
    }
    await assert.rejects(stat(file), /ENOENT/);
  });

  it("refuses invalid user and group names with exit 2", async () => {
    const file = fresh();
    for (const args of [["user", "add", "bad:name"], ["user", "add", "-x"], ["user", "add", "erin", "--group", "a b"]]) {
      const result = await lading([...args, "--htpasswd", file, "--password-stdin"], "pw\n");
      assert.equal(result.code, 2, args.join(" "));
      oneLine(result.stderr);
    }
  });

  it("changes a password; refuses an unknown user and an empty password", async () => {
    const file = fresh();
    await lading(["user", "add", "frank", "--htpasswd", file, "--password-stdin"], "old\n");
    const changed = await lading(["user", "passwd", "frank", "--htpasswd", file, "--password-stdin"], "new\n");
    assert.equal(changed.code, 0, changed.stderr);
    assert.ok(htpasswdVerifies(file, "frank", "new"));
    assert.ok(!htpasswdVerifies(file, "frank", "old"));
    const unknown = await lading(["user", "passwd", "nobody", "--htpasswd", file, "--password-stdin"], "x\n");
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no user nobody/);
    const empty = await lading(["user", "passwd", "frank", "--htpasswd", file, "--password-stdin"], "\n");
    assert.equal(empty.code, 2);
    assert.ok(htpasswdVerifies(file, "frank", "new"));
  });

  it("removes a user and their groups line, keeping the others", async () => {
    const file = fresh();
    await lading(["user", "add", "gina", "--htpasswd", file, "-g", "dev", "--password-stdin"], "pw\n");
    await lading(["user", "add", "hank", "--htpasswd", file, "-g", "ops", "--password-stdin"], "pw\n");
    const removed = await lading(["user", "remove", "gina", "--htpasswd", file]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.doesNotMatch(await readFile(file, "utf8"), /^gina:/m);
    assert.equal(await readFile(`${file}.groups`, "utf8"), "hank:ops\n");
    assert.ok(htpasswdVerifies(file, "hank", "pw"));
    const again = await lading(["user", "remove", "gina", "--htpasswd", file]);
    assert.equal(again.code, 1);
    oneLine(again.stderr);
  });

  it("sets and clears groups", async () => {
    const file = fresh();
    await lading(["user", "add", "ivan", "--htpasswd", file, "--password-stdin"], "pw\n");
    assert.equal((await lading(["user", "groups", "ivan", "dev", "qa,ops", "--htpasswd", file])).code, 0);
    assert.equal(await readFile(`${file}.groups`, "utf8"), "ivan:dev,ops,qa\n");
    assert.equal((await lading(["user", "groups", "ivan", "--htpasswd", file])).code, 2);
    assert.equal((await lading(["user", "groups", "ivan", "--clear", "--htpasswd", file])).code, 0);
    assert.equal(await readFile(`${file}.groups`, "utf8"), "");
    assert.equal((await lading(["user", "groups", "nobody", "dev", "--htpasswd", file])).code, 1);
  });

  it("lists a file made by htpasswd -B -C 10, in text and JSON, and sets passwords in it", async () => {
    const file = fresh();
    const made = spawnSync("htpasswd", ["-B", "-C", "10", "-c", "-b", file, "jane", "pw-jane"], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    assert.equal(spawnSync("htpasswd", ["-B", "-C", "10", "-b", file, "kim", "pw-kim"]).status, 0);
    await writeFile(`${file}.groups`, "kim:admin,dev\n");
    const text = await lading(["user", "list", "--htpasswd", file]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stdout, "jane\nkim   admin,dev\n");
    const json = await lading(["user", "list", "--htpasswd", file, "--json"]);
    assert.deepEqual(JSON.parse(json.stdout), { users: [{ name: "jane", groups: [] }, { name: "kim", groups: ["admin", "dev"] }] });
    assert.equal((await lading(["user", "passwd", "jane", "--htpasswd", file, "--password-stdin"], "pw-new\n")).code, 0);
    assert.ok(htpasswdVerifies(file, "jane", "pw-new"));
    assert.ok(htpasswdVerifies(file, "kim", "pw-kim"));
  });

  it("prints JSON results, and a JSON error object on failure", async () => {
    const file = fresh();
    const added = await lading(["user", "add", "lee", "--htpasswd", file, "-g", "dev", "--password-stdin", "--json"], "pw\n");
    assert.deepEqual(JSON.parse(added.stdout), { user: "lee", groups: ["dev"], added: true });
    const failed = await lading(["user", "add", "lee", "--htpasswd", file, "--password-stdin", "--json"], "pw\n");
    assert.equal(failed.code, 1);
    const error = (JSON.parse(failed.stdout) as { error: { message: string; exitCode: number } }).error;
    assert.match(error.message, /exists/);
    assert.equal(error.exitCode, 1);
    const removed = await lading(["user", "remove", "lee", "--htpasswd", file, "--json"]);
    assert.deepEqual(JSON.parse(removed.stdout), { user: "lee", removed: true });
  });

  it("finds the files from --config or LADING_CONFIG, as the server does, and says what to pass without either", async () => {
    const file = fresh();
    const groups = join(dir, "custom.groups");
    const config = join(dir, "config.yml");
    await writeFile(config, `auth:\n  htpasswd:\n    path: ${file}\nlading:\n  auth:\n    groups: ${groups}\n`);
    assert.equal((await lading(["user", "add", "mia", "--config", config, "-g", "dev", "--password-stdin"], "pw\n")).code, 0);
    assert.ok(htpasswdVerifies(file, "mia", "pw"));
    assert.equal(await readFile(groups, "utf8"), "mia:dev\n");
    const listed = await lading(["user", "list", "--json"], "", { ...withoutConfig(), LADING_CONFIG: config });
    assert.deepEqual(JSON.parse(listed.stdout), { users: [{ name: "mia", groups: ["dev"] }] });
    const neither = await lading(["user", "list"]);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /--htpasswd FILE.*--config FILE/);
    oneLine(neither.stderr);
    const noHtpasswd = join(dir, "token-only.yml");
    await writeFile(noHtpasswd, "auth:\n  token:\n    realm: https://auth.example.com/token\n    jwks: /nonexistent.jwks\n");
    const missing = await lading(["user", "list", "--config", noHtpasswd]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /auth\.htpasswd\.path/);
  });

  it("asks twice on a terminal, without echo, and refuses a mismatch", async () => {
    const file = fresh();
    const typed = await onTerminal(["user", "add", "noor", "--htpasswd", file, "-g", "dev"], ["tty-secret", "tty-secret"]);
    assert.match(typed, /New password for noor: /);
    assert.match(typed, /Retype the password: /);
    assert.doesNotMatch(typed, /tty-secret/);
    assert.ok(htpasswdVerifies(file, "noor", "tty-secret"));
    const mismatch = await onTerminal(["user", "passwd", "noor", "--htpasswd", file], ["one", "two"]);
    assert.match(mismatch, /do not match/);
    assert.ok(htpasswdVerifies(file, "noor", "tty-secret"));
  });
});

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`), typing each answer once its prompt has
 * appeared; resolves with everything the terminal showed. (script's exit status is not the
 * program's when its stdin is a pipe, so callers check the files.)
 */
function onTerminal(args: string[], answers: string[]): Promise<string> {
  const command = [process.execPath, main, ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const child = spawn("script", ["-q", "-e", "-c", command, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"], env: withoutConfig() });
  let shown = "";
  let prompts = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`timed out; the terminal showed: ${shown}`));
    }, 30_000);
    child.stdout.on("data", (chunk: Buffer) => {
      shown += chunk.toString("utf8");
      const asked = (shown.match(/password[^:\n]*: /gi) ?? []).length;
      while (prompts < asked && prompts < answers.length) child.stdin.write(`${answers[prompts++]!}\n`);
      if (/Added user|Changed the password|lading: /.test(shown)) child.stdin.end();
    });
    child.on("close", () => {
      clearTimeout(timer);
      resolve(shown);
    });
    child.on("error", reject);
  });
}
