/**
 * The Docker engine against lading with access control on, in basic and in token mode: seed 002
 * as the user wrote it (`docker login -u admin`, push, rmi, pull), the refusals docker must show
 * (a wrong password, a push without login, a pull the user may not make, after logout), robot
 * secrets as passwords, docker's identity token in token mode, a cross-repository mount from a
 * repository the user may not pull (docker tries it; lading must not mount), the throttle on
 * failed logins, and, at the end, that no secret any of this used is in lading's log (at debug
 * level) or its audit log. lading runs as `lading serve`, a child process, so its own output is
 * what is searched.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import tar from "tar-stream";
import { DOCKER, useDockerEngine } from "../helpers/docker.js";
import { requireTools } from "../helpers/exec.js";
import { Scratch } from "../helpers/scratch.js";
import { withServerLogs } from "../helpers/server-process.js";
import { loggedRequests, MODES, PASSWORDS, serveAuthRegistry, writeAuthFiles, type ServedRegistry } from "./auth-support.js";

requireTools(DOCKER, "dockerd", "busybox");

// At the top level: a private daemon started here (no run-wide one) is stopped when the file ends.
const engine = await useDockerEngine();
const scratch = await Scratch.create("e2e-auth-docker");
after(() => scratch.cleanup());
const files = await writeAuthFiles(await scratch.dir("users"));

/** Wrong passwords tried below: they must not reach any log either. */
const WRONG = { admin: "wrong-admin-Zx81", mallory: "wrong-mallory-Pq42" };

/** A root filesystem of one file: an image whose only layer no other test pushes. */
async function oneFileRootfs(text: string): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name: "marker.txt", mode: 0o644, mtime: new Date(0) }, text);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface StoredAuth {
  auth?: string;
  identitytoken?: string;
}

for (const mode of MODES) {
  describe(`docker with ${mode} auth`, { timeout: 120_000 }, () => {
    let registry: ServedRegistry | undefined;
    /** Every client folder used, for the identity tokens docker stored there. */
    const configs: string[] = [];
    /** A local busybox image no registry name points at: what the tests tag and push. */
    const base = `lading-e2e/busybox:${mode}`;

    before(async () => {
      await engine.reset();
      // Three failed sign-ins per user, then 429; many per address (every client here is 127.0.0.1).
      const throttle = { "lading.auth.throttle": { attempts: 3, window: "1m", peraddress: 1000 } };
      // Basic mode audits into the server's log, token mode into a file of its own: both are searched.
      const audit = mode === "token" ? { "lading.auth.audit.path": scratch.path(mode, "audit.log") } : {};
      registry = await serveAuthRegistry(mode, await scratch.dir(mode), files, { ...throttle, ...audit }, ["--log-level", "debug"]);
    });
    after(() => registry?.close());

    function reg(): ServedRegistry {
      if (registry === undefined) throw new Error("lading did not start");
      return registry;
    }

    /** A new, empty client folder (DOCKER_CONFIG): nobody is logged in there. */
    async function client(name: string): Promise<string> {
      const dir = await scratch.dir(mode, "clients", name);
      configs.push(dir);
      return dir;
    }

    async function login(config: string, user: string, password: string) {
      return engine.docker(["login", "-u", user, "--password-stdin", reg().host], { config, input: `${password}\n` });
    }

    async function loggedIn(user: keyof typeof PASSWORDS): Promise<string> {
      const config = await client(`${user}-${configs.length}`);
      const result = await login(config, user, PASSWORDS[user]);
      assert.equal(result.code, 0, `docker login -u ${user}: ${result.stderr}`);
      return config;
    }

    async function storedAuth(config: string): Promise<StoredAuth | undefined> {
      const text = await readFile(join(config, "config.json"), "utf8").catch(() => "{}");
      return (JSON.parse(text) as { auths?: Record<string, StoredAuth> }).auths?.[reg().host];
    }

    /** Tags the local busybox as `repository:tag` in lading and pushes it; returns what docker printed. */
    async function push(config: string, ref: string) {
      await ensureBase();
      await engine.dockerOk(["tag", base, ref], { config });
      return engine.docker(["push", ref], { config });
    }

    async function ensureBase(): Promise<void> {
      if ((await engine.docker(["image", "inspect", base], { config: scratch.root })).code !== 0) await engine.importBusybox(base);
    }

    const test = (name: string, body: () => Promise<void>) => it(name, withServerLogs(() => [registry?.server.process], body));

    test("seed 002: docker login -u admin, push, rmi, pull back", async () => {
      const config = await client("seed");
      const result = await login(config, "admin", PASSWORDS.admin);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /Login Succeeded/);

      const stored = await storedAuth(config);
      assert.ok(stored?.auth !== undefined, "docker login stores an entry for the registry");
      const pair = Buffer.from(stored.auth, "base64").toString("utf8");
      if (mode === "basic") {
        assert.equal(pair, "admin:admin");
        assert.equal(stored.identitytoken, undefined);
      } else {
        // docker keeps the refresh token lading issued (its identity token), not the password.
        assert.equal(pair, "admin:");
        assert.match(stored.identitytoken ?? "", /^[\w-]+\.[\w-]+\.[\w-]+$/);
      }

      const ref = `${reg().host}/alpine:latest`;
      await engine.importBusybox(ref);
      const pushed = await engine.dockerOk(["image", "push", ref], { config });
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
      assert.ok(digest !== undefined, `no digest in docker push output:\n${pushed.stdout}`);

      await engine.dockerOk(["rmi", ref], { config });
      assert.notEqual((await engine.docker(["image", "inspect", ref], { config })).code, 0, "the image is gone");
      const pulled = await engine.dockerOk(["pull", ref], { config });
      assert.match(pulled.stdout, /Pull complete/, "the layer came back from lading");
      assert.ok(pulled.stdout.includes(`Digest: ${digest}`), pulled.stdout);

      if (mode === "token") {
        // The login fetched the refresh token (GET /token?offline_token=true with the password);
        // the push and the pull traded it for access tokens (POST /token, grant_type=refresh_token).
        const tokens = loggedRequests(reg()).filter((r) => r.path.startsWith("/token"));
        assert.ok(tokens.some((r) => r.method === "GET" && r.path.includes("offline_token=true") && r.status === 200), JSON.stringify(tokens));
        assert.ok(tokens.some((r) => r.method === "POST" && r.status === 200), JSON.stringify(tokens));
      }
    });

    test("refuses a wrong password at docker login", async () => {
      const config = await client("wrong-password");
      const result = await login(config, "admin", WRONG.admin);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /401 Unauthorized|unauthorized: invalid username or password/);
      assert.equal(await storedAuth(config), undefined, "nothing is stored");
    });

    test("refuses a push without login", async () => {
      const config = await client("anonymous");
      const result = await push(config, `${reg().host}/team/anonymous:1`);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, mode === "basic" ? /no basic auth credentials/ : /denied: requested access to the resource is denied/);
    });

    test("refuses a pull of a repository the user may not pull, and pulls one he may", async () => {
      const admin = await loggedIn("admin");
      assert.equal((await push(admin, `${reg().host}/private/app:1`)).code, 0);
      assert.equal((await push(admin, `${reg().host}/team/app:1`)).code, 0);
      const bob = await loggedIn("bob");
      const refused = await engine.docker(["pull", `${reg().host}/private/app:1`], { config: bob });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, mode === "basic" ? /denied: bob may not repository:private\/app:pull/ : /pull access denied/);
      await engine.dockerOk(["pull", `${reg().host}/team/app:1`], { config: bob });
      const denied = await push(bob, `${reg().host}/team/bobs:1`);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /denied/);
    });

    test("docker logout forgets the login, and the next pull is refused", async () => {
      const config = await loggedIn("alice");
      assert.equal((await push(config, `${reg().host}/team/logout:1`)).code, 0);
      const out = await engine.dockerOk(["logout", reg().host], { config });
      assert.match(out.stdout, new RegExp(`Removing login credentials for ${reg().host.replaceAll(".", "\\.")}`));
      assert.equal(await storedAuth(config), undefined);
      const pull = await engine.docker(["pull", `${reg().host}/team/logout:1`], { config });
      assert.notEqual(pull.code, 0);
    });

    test("a robot secret is a password for any username, on its repositories only", async () => {
      const config = await client("robot");
      const result = await login(config, "ci-pipeline", files.robotSecret);
      assert.equal(result.code, 0, result.stderr);
      const pushed = await push(config, `${reg().host}/team/robot:1`);
      assert.equal(pushed.code, 0, pushed.stderr);
      const outside = await push(config, `${reg().host}/public/robot:1`);
      assert.notEqual(outside.code, 0);
      assert.match(outside.stderr, /denied/);
    });

    test("does not mount a layer from a repository the user may not pull: docker uploads it", async () => {
      // A layer of its own, so that docker knows it only from the repository admin pushes it to.
      const local = `lading-e2e/marker:${mode}`;
      await engine.dockerOk(["import", "-", local], { config: scratch.root, input: await oneFileRootfs(`pushed by admin to private/src in ${mode} mode\n`) });
      const admin = await loggedIn("admin");
      await engine.dockerOk(["tag", local, `${reg().host}/private/src:1`], { config: admin });
      await engine.dockerOk(["push", `${reg().host}/private/src:1`], { config: admin });
      // docker remembers where it pushed the layer and asks to mount it from there.
      const alice = await loggedIn("alice");
      await engine.dockerOk(["tag", local, `${reg().host}/team/mine:1`], { config: alice });
      const denied = await engine.docker(["push", `${reg().host}/team/mine:1`], { config: alice });
      assert.equal(denied.code, 0, denied.stderr);
      assert.doesNotMatch(denied.stdout, /Mounted from/);
      assert.match(denied.stdout, /Pushed/);
      const attempts = loggedRequests(reg()).filter((r) => r.method === "POST" && r.path.startsWith("/v2/team/mine/blobs/uploads/?") && r.path.includes("mount="));
      assert.ok(attempts.length > 0, "docker tried to mount");
      for (const attempt of attempts) {
        assert.equal(attempt.status, 202, `${attempt.path}: a mount from a repository alice may not pull falls back to an upload`);
        assert.doesNotMatch(decodeURIComponent(attempt.path), /from=team\//);
      }
      // The same push to another of alice's repositories mounts from the one she may pull.
      await engine.dockerOk(["tag", local, `${reg().host}/team/mine2:1`], { config: alice });
      const allowed = await engine.docker(["push", `${reg().host}/team/mine2:1`], { config: alice });
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.match(allowed.stdout, /Mounted from team\/mine/);
    });

    test("throttles failed logins: after three, the fourth is refused with too many requests, the right password too", async () => {
      const config = await client("throttled");
      for (let i = 0; i < 3; i++) {
        const wrong = await login(config, "mallory", WRONG.mallory);
        assert.notEqual(wrong.code, 0);
        // Not a bare 429: the registry's port may hold those digits.
        assert.doesNotMatch(wrong.stderr, /429 Too Many Requests|toomanyrequests/i, `attempt ${i + 1} is refused as wrong, not throttled`);
      }
      for (const password of [WRONG.mallory, PASSWORDS.mallory]) {
        const throttled = await login(config, "mallory", password);
        assert.notEqual(throttled.code, 0);
        assert.match(throttled.stderr, mode === "basic" ? /429 Too Many Requests/ : /toomanyrequests: too many failed sign-ins/);
      }
      assert.equal((await login(await client("not-throttled"), "alice", PASSWORDS.alice)).code, 0, "another user still logs in");
    });

    test("no password, robot secret or token is in lading's log (debug level) or audit log", async () => {
      const log = reg().server.process.logs();
      const audit = mode === "token" ? await readFile(scratch.path(mode, "audit.log"), "utf8") : log;
      assert.match(audit, /"event":"token"|"event":"push"/, "the audit log recorded the tests' work");
      assert.match(audit, /"event":"auth-failure"/);
      const secrets = new Set<string>([files.robotSecret, ...Object.values(WRONG)]);
      for (const [user, password] of Object.entries(PASSWORDS)) {
        if (user !== "admin") secrets.add(password); // "admin" is also a user name, logged as such
        secrets.add(Buffer.from(`${user}:${password}`).toString("base64"));
      }
      for (const config of configs) {
        const stored = await storedAuth(config);
        if (stored?.identitytoken !== undefined) secrets.add(stored.identitytoken);
      }
      if (mode === "token") assert.ok(configs.length > 0 && secrets.size > 10);
      for (const [where, text] of [["log", log], ["audit log", audit]] as const) {
        for (const secret of secrets) assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 12)}...) is in the ${where}`);
        assert.doesNotMatch(text, /eyJ[\w-]{8,}\.[\w-]{8,}/, `a JWT is in the ${where}`);
        assert.doesNotMatch(text, /lading_robot_/, `a robot secret is in the ${where}`);
        assert.doesNotMatch(text, /Basic [A-Za-z0-9+/=]{8,}|Bearer [\w-]{8,}/, `an Authorization header is in the ${where}`);
      }
      assert.deepEqual(reg().server.process.faults, [], "lading logged no error and answered no 5xx");
    });
  });
}
