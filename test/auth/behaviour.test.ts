import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { Htpasswd } from "../../src/auth/htpasswd.js";
import { Robots } from "../../src/auth/robots.js";
import { expectError, pushImage, request, sleep } from "../api/support.js";
import { accessOf, as, basic, bearer, challengeOf, getToken, passwords, startAuthServer, type AuthServer } from "./support.js";

const alice = basic("alice", passwords.alice!);
const bob = basic("bob", passwords.bob!);
const carol = basic("carol", passwords.carol!);

describe("basic auth", () => {
  let server: AuthServer;
  before(async () => {
    server = await startAuthServer("basic", { "lading.auth.throttle": { attempts: 3, window: "1m" } });
  });
  after(() => server.close());

  it("challenges /v2/ without credentials, and answers 200 with right ones", async () => {
    const anonymous = await request(server, "GET", "/v2/");
    expectError(anonymous, 401, "UNAUTHORIZED");
    assert.match(challengeOf(anonymous), /^Basic realm="lading"/);
    assert.equal((await request(as(server, alice), "GET", "/v2/")).status, 200);
    const wrong = await request(as(server, basic("bob", "nope")), "GET", "/v2/");
    expectError(wrong, 401, "UNAUTHORIZED");
  });

  it("a signed-in user lacking a right is denied with 403 naming the scope", async () => {
    const reply = await request(as(server, bob), "POST", "/v2/team/app/blobs/uploads/");
    const error = expectError(reply, 403, "DENIED");
    assert.deepEqual(error?.detail, [{ Type: "repository", Name: "team/app", Action: "push" }]);
  });

  it("lists in the catalog only what the caller may pull, paginated correctly", async () => {
    const admin = as(server, carol);
    for (const repo of ["team/a", "team/b", "private/x", "public/p", "team/c"]) await pushImage(admin, repo, "v1");
    const all = (await request(admin, "GET", "/v2/_catalog")).json<{ repositories: string[] }>().repositories;
    assert.deepEqual(all, ["private/x", "public/p", "team/a", "team/b", "team/c"]);
    const seen: string[] = [];
    let path: string | undefined = "/v2/_catalog?n=2";
    while (path !== undefined) {
      const reply = await request(as(server, bob), "GET", path);
      assert.equal(reply.status, 200);
      const page = reply.json<{ repositories: string[] }>().repositories;
      assert.ok(page.length <= 2);
      seen.push(...page);
      const link = reply.header("link");
      path = link === undefined ? undefined : /<([^>]+)>/.exec(link)![1];
    }
    assert.deepEqual(seen, ["public/p", "team/a", "team/b", "team/c"]);
    // Asked without credentials, the catalog challenges, so that clients sign in first.
    expectError(await request(server, "GET", "/v2/_catalog"), 401, "UNAUTHORIZED");
  });

  it("mounts only from repositories the caller may pull, otherwise falls back to an upload", async () => {
    const admin = as(server, carol);
    const secret = (await pushImage(admin, "private/blobs", "v1")).layers[0]!.digest;
    const open = (await pushImage(admin, "team/blobs", "v1")).layers[0]!.digest;
    const denied = await request(as(server, alice), "POST", `/v2/team/mine/blobs/uploads/?mount=${secret}&from=private/blobs`);
    assert.equal(denied.status, 202, "a mount from a repository alice may not pull must not happen");
    const anonymousMount = await request(as(server, alice), "POST", `/v2/team/mine/blobs/uploads/?mount=${secret}`);
    assert.equal(anonymousMount.status, 202, "a mount without from must not find a blob alice may not read");
    assert.equal((await request(as(server, alice), "HEAD", `/v2/team/mine/blobs/${secret}`)).status, 404);
    const allowed = await request(as(server, alice), "POST", `/v2/team/mine/blobs/uploads/?mount=${open}&from=team/blobs`);
    assert.equal(allowed.status, 201);
    await sleep(100);
    const audit = (await readFile(server.files.audit, "utf8")).trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(audit.some((e) => e.event === "mount" && e.user === "alice" && e.repository === "team/mine" && e.digest === open && e.from === "team/blobs"), "the mount is audited");
    const found = await request(as(server, alice), "POST", `/v2/team/other/blobs/uploads/?mount=${open}`);
    assert.equal(found.status, 201);
  });

  it("takes a robot secret as the password, and stops taking it once revoked", async () => {
    const robot = as(server, basic("anything", server.robotSecret));
    await pushImage(robot, "team/robot", "v1");
    expectError(await request(robot, "GET", "/v2/public/base/tags/list"), 403, "DENIED");
    const robots = await Robots.load(server.files.robots);
    robots.revoke("ci");
    await robots.save(server.files.robots);
    await sleep(1100);
    expectError(await request(robot, "GET", "/v2/team/robot/tags/list"), 401, "UNAUTHORIZED");
  });

  it("sees a password change without a restart", async () => {
    const users = await Htpasswd.load(server.files.htpasswd);
    await users.setPassword("bob", "bob-new");
    await users.save(server.files.htpasswd);
    await sleep(1100);
    expectError(await request(as(server, bob), "GET", "/v2/"), 401, "UNAUTHORIZED");
    assert.equal((await request(as(server, basic("bob", "bob-new")), "GET", "/v2/")).status, 200);
  });

  it("throttles failed sign-ins per user with 429 and Retry-After, right password included", async () => {
    const wrong = as(server, basic("alice", "guess"));
    for (let i = 0; i < 3; i++) expectError(await request(wrong, "GET", "/v2/"), 401, "UNAUTHORIZED");
    const throttled = await request(wrong, "GET", "/v2/");
    expectError(throttled, 429, "TOOMANYREQUESTS");
    assert.ok(Number(throttled.header("retry-after")) > 0);
    expectError(await request(as(server, alice), "GET", "/v2/"), 429, "TOOMANYREQUESTS");
    assert.equal((await request(as(server, carol), "GET", "/v2/")).status, 200, "another user is not throttled");
  });
});

describe("token auth", () => {
  let server: AuthServer;
  before(async () => {
    server = await startAuthServer("token", { "lading.auth.token.expiration": "2s" });
  });
  after(() => server.close());

  it("challenges with the token realm, service and the scope needed", async () => {
    const base = await request(server, "GET", "/v2/");
    expectError(base, 401, "UNAUTHORIZED");
    assert.equal(challengeOf(base), `Bearer realm="http://127.0.0.1:${server.port}/token",service="test-registry"`);
    const push = await request(server, "POST", "/v2/team/app/blobs/uploads/");
    assert.equal(challengeOf(push), `Bearer realm="http://127.0.0.1:${server.port}/token",service="test-registry",scope="repository:team/app:pull,push"`);
  });

  it("grants what was asked and allowed, never more", async () => {
    const reply = await getToken(server, ["repository:team/app:pull", "repository:private/secret:pull,push"], alice);
    assert.equal(reply.status, 200);
    const body = reply.json<{ token: string; access_token: string; expires_in: number; issued_at: string }>();
    assert.equal(body.token, body.access_token);
    assert.ok(body.expires_in > 0 && !Number.isNaN(Date.parse(body.issued_at)));
    assert.deepEqual(accessOf(body.token), [{ type: "repository", name: "team/app", actions: ["pull"] }]);
    const admin = await getToken(server, ["repository:private/secret:pull"], carol);
    assert.deepEqual(accessOf(admin.json<{ token: string }>().token), [{ type: "repository", name: "private/secret", actions: ["pull"] }]);
    const anonymous = await getToken(server, ["repository:public/base:pull,push", "repository:team/app:pull"]);
    assert.deepEqual(accessOf(anonymous.json<{ token: string }>().token), [{ type: "repository", name: "public/base", actions: ["pull"] }]);
  });

  it("refuses a wrong password at the token endpoint, and tampered or expired tokens", async () => {
    expectError(await getToken(server, ["repository:team/app:pull"], basic("alice", "nope")), 401, "UNAUTHORIZED");
    const token = (await bearer(server, ["repository:team/app:pull,push"], alice)).Authorization!.slice(7);
    const [header, payload, signature] = token.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString()) as { access: Array<{ name: string }> };
    claims.access[0]!.name = "private/secret";
    const tampered = `${header}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${signature}`;
    const reply = await request(as(server, { Authorization: `Bearer ${tampered}` }), "GET", "/v2/private/secret/tags/list");
    expectError(reply, 401, "UNAUTHORIZED");
    assert.match(challengeOf(reply), /error="invalid_token"/);
    const good = as(server, { Authorization: `Bearer ${token}` });
    assert.equal((await request(good, "GET", "/v2/team/app/tags/list")).status, 404);
    await sleep(3100);
    expectError(await request(good, "GET", "/v2/team/app/tags/list"), 401, "UNAUTHORIZED");
  });

  it("answers 401 insufficient_scope for a token lacking the scope", async () => {
    const token = await bearer(server, ["repository:team/app:pull"], alice);
    const reply = await request(as(server, token), "POST", "/v2/team/app/blobs/uploads/");
    expectError(reply, 401, "UNAUTHORIZED");
    assert.match(challengeOf(reply), /scope="repository:team\/app:push",error="insufficient_scope"/);
  });

  it("supports the OAuth2 password and refresh_token grants, and refuses a removed user's refresh token", async () => {
    const form = (fields: Record<string, string>) => ({ body: new URLSearchParams(fields).toString(), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    const login = await request(server, "POST", "/token", form({ grant_type: "password", username: "bob", password: passwords.bob!, service: "test-registry", client_id: "docker", access_type: "offline", scope: "repository:team/app:pull,push" }));
    assert.equal(login.status, 200, login.text());
    const body = login.json<{ access_token: string; refresh_token: string; scope: string }>();
    assert.equal(body.scope, "repository:team/app:pull");
    assert.ok(body.refresh_token);
    const refreshed = await request(server, "POST", "/token", form({ grant_type: "refresh_token", refresh_token: body.refresh_token, service: "test-registry", client_id: "docker", scope: "repository:public/base:pull" }));
    assert.equal(refreshed.status, 200, refreshed.text());
    assert.deepEqual(accessOf(refreshed.json<{ access_token: string }>().access_token), [{ type: "repository", name: "public/base", actions: ["pull"] }]);
    expectError(await request(server, "POST", "/token", form({ grant_type: "password", username: "bob", password: "wrong", service: "test-registry" })), 401, "UNAUTHORIZED");
    const users = await Htpasswd.load(server.files.htpasswd);
    users.remove("bob");
    await users.save(server.files.htpasswd);
    await sleep(1100);
    expectError(await request(server, "POST", "/token", form({ grant_type: "refresh_token", refresh_token: body.refresh_token, service: "test-registry" })), 401, "UNAUTHORIZED");
  });

  it("filters the catalog by the token subject's rights", async () => {
    const adminToken = await bearer(server, ["repository:team/cat:pull,push", "repository:private/cat:pull,push"], carol);
    await pushImage(as(server, adminToken), "team/cat", "v1");
    await pushImage(as(server, adminToken), "private/cat", "v1");
    const token = await bearer(server, ["registry:catalog:*"], alice);
    const listed = (await request(as(server, token), "GET", "/v2/_catalog")).json<{ repositories: string[] }>().repositories;
    assert.ok(listed.includes("team/cat") && !listed.includes("private/cat"), JSON.stringify(listed));
  });

  it("keeps an audit log of tokens, pushes, deletes and failures, with user and address and no secret", async () => {
    const token = await bearer(server, ["repository:team/audited:pull,push,delete"], alice);
    const image = await pushImage(as(server, token), "team/audited", "v1");
    assert.equal((await request(as(server, token), "DELETE", `/v2/team/audited/manifests/${image.digest}`)).status, 202);
    await getToken(server, ["repository:team/app:pull"], basic("alice", "bad-guess"));
    await sleep(100);
    const text = await readFile(server.files.audit, "utf8");
    const events = text.trim().split("\n").map((line) => JSON.parse(line) as Record<string, string>);
    const find = (event: string, extra: Record<string, string> = {}) => events.find((e) => e.event === event && Object.entries(extra).every(([k, v]) => e[k] === v));
    assert.ok(find("token", { user: "alice", scope: "repository:team/audited:pull,push,delete" }), text);
    assert.ok(find("push", { user: "alice", repository: "team/audited", reference: "v1", address: "127.0.0.1" }), text);
    assert.ok(find("delete", { user: "alice", repository: "team/audited", reference: image.digest }), text);
    assert.ok(find("auth-failure", { user: "alice" }), text);
    for (const secret of [...Object.values(passwords), "bad-guess", token.Authorization!.slice(7), server.robotSecret]) assert.ok(!text.includes(secret), "a secret in the audit log");
  });
});
