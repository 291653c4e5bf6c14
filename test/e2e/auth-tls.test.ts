/**
 * Access control over TLS, and the refusal to take credentials in the clear: `lading serve
 * --htpasswd F [--auth token] --tls-cert C --tls-key K` with a self-signed certificate for
 * 127.0.0.1, which skopeo and podman verify (`--cert-dir` holding it as ca.crt, verification on)
 * while they sign in, push and pull; and `lading serve` with users on a non-loopback address and
 * no TLS, which must not start unless told --insecure-http. Every lading here is a child process,
 * stopped by its PID.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { requireTools } from "../helpers/exec.js";
import { runForStatus } from "../helpers/exec-status.js";
import { Podman } from "../helpers/podman.js";
import { Scratch } from "../helpers/scratch.js";
import { ServerProcess, withServerLogs } from "../helpers/server-process.js";
import { buildLayout, creds, LADING_MAIN, MODES, PASSWORDS, refused, selfSignedCertificate, serveAuthRegistry, SkopeoClient, writeAuthFiles, type ServedRegistry } from "./auth-support.js";

requireTools("openssl", "skopeo", "podman", "umoci", "runc");

const scratch = await Scratch.create("e2e-auth-tls");
after(() => scratch.cleanup());
const files = await writeAuthFiles(await scratch.dir("users"));
const layout = await buildLayout(scratch);
const certificate = await selfSignedCertificate(scratch);
const skopeo = await SkopeoClient.create(scratch);
const podman = await Podman.create(scratch);

/** The environment `lading serve` gets: no LADING_* settings from the machine. */
const serveEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("LADING_")));

for (const mode of MODES) {
  describe(`TLS with ${mode} auth`, { timeout: 60_000 }, () => {
    let registry: ServedRegistry | undefined;

    before(async () => {
      registry = await serveAuthRegistry(mode, await scratch.dir(mode), files, {}, ["--tls-cert", certificate.cert, "--tls-key", certificate.key]);
    });
    after(() => registry?.close());

    function reg(): ServedRegistry {
      if (registry === undefined) throw new Error("lading did not start");
      return registry;
    }
    const test = (name: string, body: () => Promise<void>) => it(name, withServerLogs(() => [registry?.server.process], body));

    async function authfile(name: string): Promise<string> {
      const file = join(await scratch.dir(mode, "auth"), `${name}.json`);
      await writeFile(file, "{}\n");
      return file;
    }

    test("serves https; skopeo verifies the certificate (--cert-dir), signs in, pushes and reads back", async () => {
      assert.match(reg().server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const file = await authfile("skopeo");
      const verify = ["--cert-dir", certificate.certDir, "--tls-verify=true"];
      const wrong = await skopeo.status(["login", "--authfile", file, ...verify, "-u", "alice", "-p", "not-her-password", reg().host]);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /invalid username\/password|unauthorized/i);
      const login = await skopeo.run(["login", "--authfile", file, ...verify, "-u", "alice", "--password-stdin", reg().host], `${PASSWORDS.alice}\n`);
      assert.match(login.stdout, /Login Succeeded/);

      await skopeo.run(["copy", "--authfile", file, "--dest-cert-dir", certificate.certDir, "--dest-tls-verify=true", `oci:${layout}:hello`, `docker://${reg().ref("team/tls:1")}`]);
      const inspected = JSON.parse((await skopeo.run(["inspect", "--authfile", file, ...verify, `docker://${reg().ref("team/tls:1")}`])).stdout) as { Digest: string };
      assert.match(inspected.Digest, /^sha256:[0-9a-f]{64}$/);

      // Without the certificate the same request fails verification: it was really checked.
      const unverified = await skopeo.status(["inspect", "--authfile", file, "--tls-verify=true", `docker://${reg().ref("team/tls:1")}`]);
      assert.notEqual(unverified.code, 0);
      assert.match(unverified.stderr, /x509: certificate signed by unknown authority/);

      const robot = await skopeo.status(["copy", "--authfile", skopeo.noAuthfile, "--dest-creds", creds("ci", files.robotSecret), "--dest-cert-dir", certificate.certDir, `oci:${layout}:hello`, `docker://${reg().ref("private/tls:1")}`]);
      assert.notEqual(robot.code, 0, "the robot may push to team/* only");
    });

    test("podman signs in, pulls and pushes over https with --cert-dir", async () => {
      const file = await authfile("podman");
      const tls = ["--cert-dir", certificate.certDir, "--tls-verify=true"];
      await skopeo.run(["copy", "--authfile", skopeo.noAuthfile, "--dest-creds", creds("admin", PASSWORDS.admin), "--dest-cert-dir", certificate.certDir, `oci:${layout}:hello`, `docker://${reg().ref("team/tls-base:1")}`]);
      await podman.exec(["login", "--authfile", file, ...tls, "-u", "alice", "-p", PASSWORDS.alice, reg().host]);
      await podman.exec(["pull", "--authfile", file, ...tls, reg().ref("team/tls-base:1")]);
      await podman.tag(reg().ref("team/tls-base:1"), reg().ref("team/tls-podman:1"));
      await podman.exec(["push", "--authfile", file, ...tls, reg().ref("team/tls-podman:1")]);
      const outside = await refused(podman.exec(["push", "--authfile", file, ...tls, reg().ref("team/tls-podman:1"), reg().ref("private/tls-podman:1")]));
      assert.match(outside, /denied|may not|insufficient_scope|403 \(Forbidden\)/i);
      await podman.exec(["logout", "--authfile", file, reg().host]);
      await refused(podman.exec(["pull", "--authfile", file, ...tls, reg().ref("team/tls-podman:1")]));
    });
  });
}

describe("lading serve with users off loopback", { timeout: 60_000 }, () => {
  for (const mode of MODES) {
    const auth = mode === "token" ? ["--auth", "token"] : [];

    it(`exits 2 without TLS, naming TLS and --insecure-http (${mode} auth)`, async () => {
      const args = [LADING_MAIN, "serve", "--htpasswd", files.htpasswd, ...auth, "--listen", "0.0.0.0:0", "--storage", await scratch.dir(mode, "refused-store")];
      // A start that wrongly succeeds is killed after the timeout and fails the test.
      const result = await runForStatus(process.execPath, args, { env: serveEnv, timeoutMs: 20_000 });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /TLS/);
      assert.match(result.stderr, /--insecure-http/);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    });

    it(`starts with --insecure-http (${mode} auth), and is stopped at once`, async () => {
      const args = [LADING_MAIN, "serve", "--htpasswd", files.htpasswd, ...auth, "--listen", "0.0.0.0:0", "--insecure-http", "--storage", await scratch.dir(mode, "insecure-store")];
      const server = ServerProcess.spawn({ name: "lading", command: process.execPath, args, env: serveEnv });
      try {
        const line = await server.waitForLine((l) => l.includes('"msg":"listening"'), 20_000);
        assert.match((JSON.parse(line) as { addr: string }).addr, /^0\.0\.0\.0:\d+$/);
        assert.match(server.logs(), new RegExp(`"mode":"${mode}".*"msg":"access control on"`));
      } finally {
        await server.stop();
      }
    });
  }
});
