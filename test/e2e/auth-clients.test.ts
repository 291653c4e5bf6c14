/**
 * skopeo, podman, buildah, containerd's ctr and lading's own client against lading with access
 * control on, in basic and in token mode: each signs in (its login command, or credentials per
 * call) and pushes and pulls; a robot secret works as the password; a user who may not push is
 * refused with a message that says so. lading runs in process; the image comes from an OCI layout
 * built offline with umoci.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Buildah } from "../helpers/buildah.js";
import { useContainerd } from "../helpers/containerd.js";
import { requireTools } from "../helpers/exec.js";
import { runForStatus } from "../helpers/exec-status.js";
import { Podman } from "../helpers/podman.js";
import { Scratch } from "../helpers/scratch.js";
import { buildLayout, creds, LADING_MAIN, ladingCli, MODES, PASSWORDS, refused, SkopeoClient, startAuthRegistry, writeAuthFiles, type AuthRegistry } from "./auth-support.js";

requireTools("skopeo", "podman", "buildah", "ctr", "containerd", "umoci", "runc");

// At the top level: a private daemon started here (no run-wide one) is stopped when the file ends.
const containerd = await useContainerd();
const scratch = await Scratch.create("e2e-auth-clients");
after(() => scratch.cleanup());
const files = await writeAuthFiles(await scratch.dir("users"));
const layout = await buildLayout(scratch);
const skopeo = await SkopeoClient.create(scratch);
const podman = await Podman.create(scratch);
const buildah = await Buildah.create(scratch);

const alice = { user: "alice", password: PASSWORDS.alice };
const bob = { user: "bob", password: PASSWORDS.bob };
const robot = { user: "ci-job", password: files.robotSecret };

/** What a client prints when lading refuses bob a push: lading's DENIED (basic) or the token's missing scope. */
const PUSH_REFUSED = /denied|may not|insufficient_scope/i;

for (const mode of MODES) {
  describe(`real clients with ${mode} auth`, { timeout: 120_000 }, () => {
    let registry: AuthRegistry | undefined;

    before(async () => {
      registry = await startAuthRegistry(mode, await scratch.dir(mode), files);
      // admin seeds what the others read: team/base (pullable by alice and bob), private/secret (by nobody but admin).
      for (const repository of ["team/base:1", "private/secret:1"]) {
        await skopeo.run(["copy", "--authfile", skopeo.noAuthfile, "--dest-tls-verify=false", "--dest-creds", creds("admin", PASSWORDS.admin), `oci:${layout}:hello`, `docker://${registry.ref(repository)}`]);
      }
    });
    after(() => registry?.close());

    function reg(): AuthRegistry {
      if (registry === undefined) throw new Error("lading did not start");
      return registry;
    }
    const ref = (repository: string) => reg().ref(repository);
    const host = () => reg().host;

    /** An auth file of its own (podman and skopeo want it to exist). */
    async function authfile(name: string): Promise<string> {
      const file = join(await scratch.dir(mode, "auth"), `${name}.json`);
      await writeFile(file, "{}\n");
      return file;
    }

    it("skopeo: --creds, skopeo login into an --authfile, a robot secret, a refused push", async () => {
      const copy = (dest: string, ...flags: string[]) => skopeo.run(["copy", "--authfile", skopeo.noAuthfile, "--dest-tls-verify=false", ...flags, `oci:${layout}:hello`, `docker://${ref(dest)}`]);
      await copy("team/skopeo:1", "--dest-creds", creds(alice.user, alice.password));

      const file = await authfile("skopeo-alice");
      const wrong = await skopeo.status(["login", "--authfile", file, "--tls-verify=false", "-u", "alice", "-p", "not-her-password", host()]);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /invalid username\/password|unauthorized/i);
      const login = await skopeo.run(["login", "--authfile", file, "--tls-verify=false", "-u", "alice", "--password-stdin", host()], `${alice.password}\n`);
      assert.match(login.stdout, /Login Succeeded/);
      const inspected = JSON.parse((await skopeo.run(["inspect", "--authfile", file, "--tls-verify=false", `docker://${ref("team/skopeo:1")}`])).stdout) as { Digest: string };
      assert.match(inspected.Digest, /^sha256:/);
      const secret = await skopeo.status(["inspect", "--authfile", file, "--tls-verify=false", `docker://${ref("private/secret:1")}`]);
      assert.notEqual(secret.code, 0, "alice may not read private/secret");

      await copy("team/skopeo-robot:1", "--dest-creds", creds(robot.user, robot.password));
      const denied = await refused(copy("team/skopeo-bob:1", "--dest-creds", creds(bob.user, bob.password)));
      assert.match(denied, PUSH_REFUSED);
    });

    it("podman: podman login, pull, push; a robot secret; a refused push", async () => {
      const login = async (who: { user: string; password: string }) => {
        const file = await authfile(`podman-${who.user}`);
        await podman.exec(["login", "--authfile", file, "--tls-verify=false", "-u", who.user, "-p", who.password, host()]);
        return file;
      };
      const file = await login(alice);
      assert.match(await readFile(file, "utf8"), new RegExp(host().replaceAll(".", "\\.")), "podman login stores the credentials");
      await podman.exec(["pull", "--authfile", file, "--tls-verify=false", ref("team/base:1")]);
      await podman.tag(ref("team/base:1"), ref("team/podman:1"));
      await podman.exec(["push", "--authfile", file, "--tls-verify=false", ref("team/podman:1")]);
      await podman.exec(["rmi", ref("team/podman:1")]);
      await podman.exec(["pull", "--authfile", file, "--tls-verify=false", ref("team/podman:1")]);

      const wrong = await refused(podman.exec(["login", "--authfile", await authfile("podman-wrong"), "--tls-verify=false", "-u", "alice", "-p", "not-her-password", host()]));
      assert.match(wrong, /invalid username\/password|unauthorized/i);

      const robotFile = await login(robot);
      await podman.exec(["push", "--authfile", robotFile, "--tls-verify=false", ref("team/podman:1"), ref("team/podman-robot:1")]);
      const bobFile = await login(bob);
      const denied = await refused(podman.exec(["push", "--authfile", bobFile, "--tls-verify=false", ref("team/podman:1"), ref("team/podman-bob:1")]));
      assert.match(denied, PUSH_REFUSED);
    });

    it("buildah: buildah login, from, copy, commit, push; --creds with a robot secret; a refused push", async () => {
      await buildah.exec(["login", "--tls-verify=false", "-u", alice.user, "-p", alice.password, host()]);
      const container = await buildah.from(ref("team/base:1"));
      const file = join(await scratch.dir(mode, "buildah-context"), "built.txt");
      await writeFile(file, `built by buildah against ${mode} auth\n`);
      await buildah.copy(container, file, "/built.txt");
      await buildah.commit(container, ref("team/buildah:1"));
      await buildah.push(ref("team/buildah:1"));
      await buildah.exec(["logout", host()]);

      await buildah.push(ref("team/buildah:1"), ref("team/buildah-robot:1"), robot);
      const denied = await refused(buildah.push(ref("team/buildah:1"), ref("team/buildah-bob:1"), bob));
      assert.match(denied, PUSH_REFUSED);
      const anonymous = await refused(buildah.push(ref("team/buildah:1"), ref("team/buildah-anonymous:1")));
      assert.match(anonymous, /unauthorized|authentication required|denied/i);
    });

    it("ctr: pull and push with --user; a robot secret; a refused push", async () => {
      const anonymous = await refused(containerd.pull(ref("team/base:1")));
      assert.match(anonymous, /\b401\b|unauthorized|authorization failed/i);
      await containerd.pull(ref("team/base:1"), { credentials: alice });
      await containerd.tag(ref("team/base:1"), ref("team/ctr:1"));
      await containerd.push(ref("team/ctr:1"), { credentials: alice });
      await containerd.tag(ref("team/base:1"), ref("team/ctr-robot:1"));
      await containerd.push(ref("team/ctr-robot:1"), { credentials: robot });
      await containerd.tag(ref("team/base:1"), ref("team/ctr-bob:1"));
      const denied = await refused(containerd.push(ref("team/ctr-bob:1"), { credentials: bob }));
      assert.match(denied, mode === "basic" ? /403 Forbidden/ : /insufficient_scope/);
      await containerd.ctrOk(["images", "remove", ref("team/base:1"), ref("team/ctr:1"), ref("team/ctr-robot:1"), ref("team/ctr-bob:1")]);
      await containerd.pull(ref("team/ctr-robot:1"), { credentials: robot });
    });

    it("lading: login with the password on stdin, then copy and ls; --authfile; a robot secret", async () => {
      const lading = ladingCli(await scratch.dir(mode, "lading-home"));
      const login = await lading(["login", "-u", "alice", "--password-stdin", host()], `${alice.password}\n`);
      assert.equal(login.code, 0, login.stderr);
      assert.match(login.stdout, /Login Succeeded \(saved to .*\/lading-home\/\.docker\/config\.json\)/);
      const copied = await lading(["copy", ref("team/base:1"), ref("team/lading:1")]);
      assert.equal(copied.code, 0, copied.stderr);
      assert.deepEqual((await lading(["ls", ref("team/lading")])).stdout.split("\n").filter(Boolean), ["1"]);
      const outside = await lading(["copy", ref("team/base:1"), ref("private/lading:1")]);
      assert.notEqual(outside.code, 0, "alice may not push to private/");

      const wrong = await lading(["login", "-u", "alice", "--password-stdin", host()], "not-her-password\n");
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /invalid username or password/);

      // --authfile: bob's login is kept there and used from there only.
      const bobFile = join(await scratch.dir(mode, "lading-bob"), "auth.json");
      assert.equal((await lading(["login", "-u", "bob", "--password-stdin", "--authfile", bobFile, host()], `${bob.password}\n`)).code, 0);
      assert.match(await readFile(bobFile, "utf8"), new RegExp(Buffer.from(`bob:${bob.password}`).toString("base64")));
      assert.deepEqual((await lading(["ls", "--authfile", bobFile, ref("team/lading")])).stdout.split("\n").filter(Boolean), ["1"]);
      const denied = await lading(["copy", "--authfile", bobFile, ref("team/lading:1"), ref("team/lading-bob:1")]);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, mode === "basic" ? /DENIED: bob may not repository:team\/lading-bob:push|HTTP 403/ : /HTTP 401|UNAUTHORIZED/);

      const robotFile = join(await scratch.dir(mode, "lading-robot"), "auth.json");
      assert.equal((await lading(["login", "-u", "ci-job", "--password-stdin", "--authfile", robotFile, host()], `${robot.password}\n`)).code, 0);
      const robotCopy = await lading(["copy", "--authfile", robotFile, ref("team/lading:1"), ref("team/lading-robot:1")]);
      assert.equal(robotCopy.code, 0, robotCopy.stderr);
    });

    if (mode === "basic") {
      it("lading login --password-stdin reads a stdin that is a socket (what Node's child_process gives)", async () => {
        const home = await scratch.dir(mode, "lading-socket-stdin");
        const env = { ...process.env, HOME: home, DOCKER_CONFIG: home };
        const login = await runForStatus(process.execPath, [LADING_MAIN, "login", "-u", "alice", "--password-stdin", host()], { env, input: `${alice.password}\n` });
        assert.equal(login.code, 0, login.stderr);
      });
    }

    it("lading catalog lists what the signed-in user may pull, and only that", async () => {
      const home = await scratch.dir(mode, "lading-catalog");
      const lading = ladingCli(home);
      const adminFile = join(home, "admin.json");
      assert.equal((await lading(["login", "-u", "admin", "--password-stdin", "--authfile", adminFile, host()], `${PASSWORDS.admin}\n`)).code, 0);
      assert.equal((await lading(["copy", "--authfile", adminFile, ref("team/base:1"), ref("public/catalog:1")])).code, 0);
      const listing = async (who: string, password: string): Promise<string[]> => {
        const file = join(home, `${who}.json`);
        const login = await lading(["login", "-u", who, "--password-stdin", "--authfile", file, host()], `${password}\n`);
        assert.equal(login.code, 0, login.stderr);
        const catalog = await lading(["catalog", "--json", "--authfile", file, host()]);
        assert.equal(catalog.code, 0, catalog.stderr);
        return (JSON.parse(catalog.stdout) as { repositories: string[] }).repositories;
      };
      const everything = await listing("admin", PASSWORDS.admin);
      assert.ok(everything.includes("private/secret") && everything.includes("team/base") && everything.includes("public/catalog"), JSON.stringify(everything));
      for (const [who, password] of [["alice", alice.password], ["bob", bob.password]] as const) {
        const seen = await listing(who, password);
        assert.deepEqual(seen, everything.filter((r) => r.startsWith("team/") || r.startsWith("public/")), `${who}'s catalog`);
      }
      const anonymous = await lading(["catalog", "--json", host()]);
      if (mode === "token") {
        assert.deepEqual((JSON.parse(anonymous.stdout) as { repositories: string[] }).repositories, ["public/catalog"], "the anonymous see public/ only");
      } else {
        // Basic auth has no anonymous credentials to offer: the catalog asks for a sign-in.
        assert.notEqual(anonymous.code, 0);
        assert.match(anonymous.stderr, /\b401\b|unauthorized|authentication required/i);
      }
    });
  });
}
