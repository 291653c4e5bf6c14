import assert from "node:assert/strict";
import { readFile, stat, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { eraseCredentials, findCredentials, normalizeAuthKey, storeCredentials } from "../../src/client/auth-config.js";
import type { HelperRunner } from "../../src/client/credential-helper.js";
import { Scratch } from "../helpers/scratch.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

let scratch: Scratch;
before(async () => { scratch = await Scratch.create("auth"); });
after(() => scratch.cleanup());
let homes = 0;

async function home(files: Record<string, unknown>): Promise<string> {
  const dir = await scratch.dir(`home-${++homes}`);
  for (const [name, json] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), JSON.stringify(json));
  }
  return dir;
}

describe("credentials from docker and podman config", () => {
  it("normalizes keys", () => {
    assert.equal(normalizeAuthKey("https://index.docker.io/v1/"), "docker.io");
    assert.equal(normalizeAuthKey("http://localhost:5000/v2/"), "localhost:5000");
    assert.equal(normalizeAuthKey("quay.io/org"), "quay.io/org");
  });
  it("reads ~/.docker/config.json auths", async () => {
    const h = await home({ ".docker/config.json": { auths: { "https://index.docker.io/v1/": { auth: b64("hub:pw") }, "localhost:5000": { auth: b64("me:se:cret") } } } });
    const env = {};
    assert.deepEqual(await findCredentials("localhost:5000", "base", { home: h, env }), { username: "me", password: "se:cret" });
    assert.deepEqual(await findCredentials("docker.io", "library/ubuntu", { home: h, env }), { username: "hub", password: "pw" });
    assert.equal(await findCredentials("other:1", undefined, { home: h, env }), undefined);
  });
  it("honours $DOCKER_CONFIG and prefers podman's auth.json, most specific key first", async () => {
    const h = await home({
      "cfg/config.json": { auths: { "r.io": { auth: b64("docker:x") } } },
      "run/containers/auth.json": { auths: { "r.io": { auth: b64("podman:y") }, "r.io/team": { auth: b64("team:z") } } },
    });
    const env = { DOCKER_CONFIG: path.join(h, "cfg"), XDG_RUNTIME_DIR: path.join(h, "run") };
    assert.equal((await findCredentials("r.io", "team/app", { home: h, env }))?.username, "team");
    assert.equal((await findCredentials("r.io", "other", { home: h, env }))?.username, "podman");
    assert.equal((await findCredentials("r.io", "other", { home: h, env: { DOCKER_CONFIG: env.DOCKER_CONFIG } }))?.username, "docker");
  });
  it("asks credHelpers before credsStore, and maps <token> to an identity token", async () => {
    const calls: string[] = [];
    const runHelper: HelperRunner = async (name, action, input) => {
      calls.push(`${name} ${action} ${input}`);
      if (name === "ecr") return JSON.stringify({ Username: "<token>", Secret: "refresh" });
      throw new Error("credentials not found in native keychain");
    };
    const h = await home({ ".docker/config.json": { credsStore: "desktop", credHelpers: { "aws.io": "ecr" }, auths: { "x.io": { auth: b64("file:pw") } } } });
    assert.deepEqual(await findCredentials("aws.io", "r", { home: h, env: {}, runHelper }), { identityToken: "refresh" });
    assert.deepEqual(await findCredentials("x.io", "r", { home: h, env: {}, runHelper }), { username: "file", password: "pw" });
    assert.deepEqual(calls, ["ecr get aws.io", "desktop get x.io"]);
  });
  it("stores and erases in config.json, private to the user", async () => {
    const h = await home({ ".docker/config.json": { auths: {}, other: 1 } });
    const file = await storeCredentials("localhost:5000", "u", "p", { home: h, env: {} });
    const json = JSON.parse(await readFile(file, "utf8")) as { auths: Record<string, { auth: string }>; other: number };
    assert.equal(json.auths["localhost:5000"]!.auth, b64("u:p"));
    assert.equal(json.other, 1);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(await eraseCredentials("localhost:5000", { home: h, env: {} }), true);
    assert.deepEqual(JSON.parse(await readFile(file, "utf8")).auths, {});
  });
});
