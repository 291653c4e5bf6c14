/**
 * The web UI's JSON endpoints (/api/v1/) and pages: what they list and count, how they sort and
 * page, what they show of an image, an index and its referrers, that they follow pushes and
 * deletes, what each caller sees with access control on, and where the UI is mounted or not.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import type { Page, RepositoryRow, TagRow } from "../../src/ui/types.js";
import { as, basic, passwords, startAuthServer, type AuthServer } from "../auth/support.js";
import { descriptor, digestOf, expectError, randomBlob, sleep, mt, pushBlob, pushImage, pushManifest, request, startTestServer, type PushedImage, type TestServer } from "./support.js";

async function getJson<T>(server: TestServer, path: string): Promise<T> {
  const reply = await request(server, "GET", path);
  assert.equal(reply.status, 200, `${path}: ${reply.text()}`);
  assert.match(String(reply.headers["content-type"]), /^application\/json/);
  return reply.json() as T;
}

/** What an image's tag row and its repository's size count: the manifest, its config and its layers. */
const imageSize = (image: PushedImage) => image.body.length + image.config.size + image.layers.reduce((n, l) => n + l.size, 0);

describe("web UI endpoints", () => {
  let server: TestServer;
  let one1: PushedImage;
  let one2: PushedImage;
  let indexDigest: string;
  let indexBody: Buffer;
  let arm: PushedImage;
  let amd: PushedImage;
  let signatureDigest: string;
  let attestationDigest: string;

  before(async () => {
    server = await startTestServer();
    one1 = await pushImage(server, "apps/one", "1.0", { layers: 2 });
    one2 = await pushImage(server, "apps/one", "2.0", { layers: 1 });
    await pushManifest(server, "apps/one", "latest", one2.body, mt.ociManifest);
    await pushImage(server, "apps/two", "v1");
    await pushImage(server, "tools/three", "x");
    const configFor = (architecture: string) =>
      Buffer.from(
        JSON.stringify({
          architecture,
          os: "linux",
          created: "2026-01-02T03:04:05Z",
          config: { Env: ["PATH=/usr/bin", "MODE=prod"], Entrypoint: ["/app"], Cmd: ["--serve"], Labels: { team: "ships" }, ExposedPorts: { "8080/tcp": {} }, User: "app", WorkingDir: "/srv" },
          rootfs: { type: "layers", diff_ids: [] },
          history: [{ created_by: "COPY app /app # buildkit" }, { created_by: "ENV MODE=prod", empty_layer: true }],
        }),
      );
    amd = await pushImage(server, "apps/multi", "amd-only", { configBytes: configFor("amd64") });
    arm = await pushImage(server, "apps/multi", "arm-only", { configBytes: configFor("arm64") });
    const attestation = await pushImage(server, "apps/multi", "attestation", { configBytes: Buffer.from("{}"), configMediaType: "application/vnd.oci.empty.v1+json" });
    const index = {
      schemaVersion: 2,
      mediaType: mt.ociIndex,
      manifests: [
        { mediaType: mt.ociManifest, digest: amd.digest, size: amd.body.length, platform: { os: "linux", architecture: "amd64" } },
        { mediaType: mt.ociManifest, digest: arm.digest, size: arm.body.length, platform: { os: "linux", architecture: "arm64" } },
        { mediaType: mt.ociManifest, digest: attestation.digest, size: attestation.body.length, platform: { os: "unknown", architecture: "unknown" } },
      ],
    };
    const pushed = await pushManifest(server, "apps/multi", "multi", index, mt.ociIndex);
    indexDigest = pushed.digest;
    indexBody = pushed.body;
    // A signature of the amd64 image, and an attestation of the signature.
    const empty = Buffer.from("{}");
    await pushBlob(server, "apps/multi", empty);
    const referrer = (subject: { digest: string; size: number }, artifactType: string) => ({
      schemaVersion: 2,
      mediaType: mt.ociManifest,
      artifactType,
      config: descriptor("application/vnd.oci.empty.v1+json", empty),
      layers: [descriptor("application/vnd.oci.empty.v1+json", empty)],
      subject: { mediaType: mt.ociManifest, ...subject },
    });
    const byDigest = (manifest: unknown) => pushManifest(server, "apps/multi", digestOf(JSON.stringify(manifest)), manifest, mt.ociManifest);
    const signature = await byDigest(referrer({ digest: amd.digest, size: amd.body.length }, "application/vnd.dev.cosign.signature"));
    signatureDigest = signature.digest;
    attestationDigest = (await byDigest(referrer({ digest: signature.digest, size: signature.body.length }, "application/vnd.in-toto+json"))).digest;
  });
  after(() => server.close());

  it("lists repositories with tag counts, sizes and last pushes, searched and paged", async () => {
    const all = await getJson<Page<RepositoryRow>>(server, "/api/v1/repositories");
    assert.deepEqual(all.items.map((r) => r.name), ["apps/multi", "apps/one", "apps/two", "tools/three"]);
    assert.equal(all.total, 4);
    const one = all.items.find((r) => r.name === "apps/one")!;
    assert.equal(one.tags, 3);
    assert.equal(one.size, imageSize(one1) + imageSize(one2), "latest and 2.0 name one image: counted once");
    assert.ok(one.lastPush !== null && Math.abs(Date.parse(one.lastPush) - Date.now()) < 120_000, String(one.lastPush));
    const searched = await getJson<Page<RepositoryRow>>(server, "/api/v1/repositories?q=APPS/T");
    assert.deepEqual(searched.items.map((r) => r.name), ["apps/two"]);
    const second = await getJson<Page<RepositoryRow>>(server, "/api/v1/repositories?per_page=2&page=2");
    assert.deepEqual([second.total, second.page, second.perPage, second.items.map((r) => r.name)], [4, 2, 2, ["apps/two", "tools/three"]]);
    const beyond = await getJson<Page<RepositoryRow>>(server, "/api/v1/repositories?per_page=2&page=3");
    assert.deepEqual([beyond.total, beyond.items], [4, []]);
  });

  it("refuses a page size or number it cannot serve, in the registry's error format", async () => {
    for (const query of ["per_page=0", "per_page=101", "page=0", "page=x", "per_page=1.5"]) {
      expectError(await request(server, "GET", `/api/v1/repositories?${query}`), 400, "PAGINATION_NUMBER_INVALID", query);
    }
    expectError(await request(server, "GET", "/api/v1/repositories/apps/one/tags?sort=colour"), 400, "UNSUPPORTED");
    expectError(await request(server, "GET", "/api/v1/repositories/apps/one/tags?order=up"), 400, "UNSUPPORTED");
    expectError(await request(server, "GET", "/api/v1/repositories/nothing/here/tags"), 404, "NAME_UNKNOWN");
    expectError(await request(server, "GET", "/api/v1/repositories/Bad..Name/tags"), 400, "NAME_INVALID");
    expectError(await request(server, "GET", "/api/v1/repositories/apps/one/manifests/nope"), 404, "MANIFEST_UNKNOWN");
    expectError(await request(server, "GET", "/api/v1/nothing"), 404, "UNSUPPORTED");
    expectError(await request(server, "POST", "/api/v1/repositories"), 405, "UNSUPPORTED");
  });

  it("lists a repository's tags with digest, type, platforms, size and push time, sorted either way", async () => {
    const byTag = await getJson<Page<TagRow>>(server, "/api/v1/repositories/apps/one/tags");
    assert.deepEqual(byTag.items.map((t) => t.tag), ["1.0", "2.0", "latest"]);
    const row = byTag.items[0]!;
    assert.deepEqual([row.digest, row.mediaType, row.platforms, row.size], [one1.digest, mt.ociManifest, ["linux/amd64"], imageSize(one1)]);
    assert.ok(row.pushed !== null);
    const desc = await getJson<Page<TagRow>>(server, "/api/v1/repositories/apps/one/tags?order=desc");
    assert.deepEqual(desc.items.map((t) => t.tag), ["latest", "2.0", "1.0"]);
    const bySize = await getJson<Page<TagRow>>(server, "/api/v1/repositories/apps/one/tags?sort=size&order=asc");
    assert.deepEqual(bySize.items.map((t) => t.size), [...bySize.items.map((t) => t.size)].sort((a, b) => a - b));
    assert.equal(bySize.items.at(-1)!.tag, "1.0", "1.0 has two layers, the others one");
    const byPush = await getJson<Page<TagRow>>(server, "/api/v1/repositories/apps/one/tags?sort=pushed");
    const times = byPush.items.map((t) => Date.parse(t.pushed!));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");
    const paged = await getJson<Page<TagRow>>(server, "/api/v1/repositories/apps/one/tags?per_page=1&page=3");
    assert.deepEqual([paged.total, paged.items.map((t) => t.tag)], [3, ["latest"]]);
  });

  it("shows an index's platforms (not its attestations) and sums what it reaches", async () => {
    const tags = await getJson<Page<TagRow>>(server, "/api/v1/repositories/apps/multi/tags");
    const multi = tags.items.find((t) => t.tag === "multi")!;
    assert.deepEqual([multi.digest, multi.mediaType, multi.platforms], [indexDigest, mt.ociIndex, ["linux/amd64", "linux/arm64"]]);
    assert.ok(multi.size > indexBody.length + imageSize(amd) + imageSize(arm) - 1, `${multi.size}`);
    const view = await getJson<{ manifests: { digest: string; platform: string | null }[]; tags: string[]; config: unknown }>(server, `/api/v1/repositories/apps/multi/manifests/${indexDigest}`);
    assert.deepEqual(view.manifests.map((m) => m.platform), ["linux/amd64", "linux/arm64", "unknown/unknown"]);
    assert.deepEqual(view.tags, ["multi"]);
    assert.equal(view.config, null);
  });

  it("shows an image's config, layers and history, by tag or digest", async () => {
    type View = { digest: string; config: Record<string, unknown>; layers: { digest: string; size: number }[]; history: { createdBy: string; emptyLayer: boolean }[]; tags: string[] };
    const view = await getJson<View>(server, "/api/v1/repositories/apps/multi/manifests/arm-only");
    assert.equal(view.digest, arm.digest);
    const { digest: _d, mediaType: _m, ...config } = view.config;
    void _d;
    void _m;
    assert.deepEqual(config, {
      platform: "linux/arm64",
      created: "2026-01-02T03:04:05Z",
      user: "app",
      workingDir: "/srv",
      env: ["PATH=/usr/bin", "MODE=prod"],
      entrypoint: ["/app"],
      cmd: ["--serve"],
      labels: { team: "ships" },
      exposedPorts: ["8080/tcp"],
      volumes: [],
      stopSignal: null,
    });
    assert.deepEqual(view.layers.map((l) => l.digest), arm.layers.map((l) => l.digest));
    assert.deepEqual(view.history, [
      { created: null, createdBy: "COPY app /app # buildkit", comment: null, emptyLayer: false },
      { created: null, createdBy: "ENV MODE=prod", comment: null, emptyLayer: true },
    ]);
    const byDigest = await getJson<View>(server, `/api/v1/repositories/apps/multi/manifests/${arm.digest}`);
    assert.deepEqual(byDigest.tags, ["arm-only"]);
  });

  it("shows the referrers of a manifest as a tree: a signature, and what refers to the signature", async () => {
    type Node = { digest: string; artifactType: string | null; referrers: Node[] };
    const view = await getJson<{ referrers: Node[] }>(server, "/api/v1/repositories/apps/multi/manifests/amd-only");
    assert.deepEqual(
      view.referrers.map((n) => [n.digest, n.artifactType, n.referrers.map((r) => [r.digest, r.artifactType, r.referrers.length])]),
      [[signatureDigest, "application/vnd.dev.cosign.signature", [[attestationDigest, "application/vnd.in-toto+json", 0]]]],
    );
  });

  it("follows pushes, moved tags and deletes at once", async () => {
    const count = async () => (await getJson<Page<RepositoryRow>>(server, "/api/v1/repositories?q=apps/two")).items[0]!;
    const before = await count();
    const v2 = await pushImage(server, "apps/two", "v2", { layers: 3 });
    const grown = await count();
    assert.equal(grown.tags, before.tags + 1);
    assert.equal(grown.size, before.size + imageSize(v2));
    await pushManifest(server, "apps/two", "v1", v2.body, mt.ociManifest);
    const moved = await getJson<Page<TagRow>>(server, "/api/v1/repositories/apps/two/tags");
    assert.deepEqual(moved.items.map((t) => [t.tag, t.digest]), [["v1", v2.digest], ["v2", v2.digest]]);
    assert.equal((await count()).size, imageSize(v2), "the old v1 image is no longer reached by a tag");
    assert.equal((await request(server, "DELETE", `/v2/apps/two/manifests/${v2.digest}`)).status, 202);
    assert.deepEqual([(await count()).tags, (await count()).size, (await count()).lastPush], [0, 0, null]);
  });
});

describe("web UI with access control", () => {
  let server: AuthServer;

  before(async () => {
    // Blobs count for a collection at once: the storage estimate below frees what it can see.
    server = await startAuthServer("basic", { "lading.gc.grace": "0s" });
    const carol = as(server, basic("carol", passwords.carol!));
    await pushImage(carol, "public/base", "1");
    await pushImage(carol, "team/app", "1");
    await pushImage(carol, "secret/vault", "1");
  });
  after(() => server.close());

  it("shows each caller what they may pull, and nothing of the rest, never with a challenge", async () => {
    const names = async (s: TestServer) => (await getJson<Page<RepositoryRow>>(s, "/api/v1/repositories")).items.map((r) => r.name);
    const anonymous = await request(server, "GET", "/api/v1/repositories");
    assert.equal(anonymous.headers["www-authenticate"], undefined, "a browser would pop up its own sign-in dialog");
    assert.deepEqual(await names(server), ["public/base"]);
    assert.deepEqual(await names(as(server, basic("bob", passwords.bob!))), ["public/base", "team/app"]);
    assert.deepEqual(await names(as(server, basic("carol", passwords.carol!))), ["public/base", "secret/vault", "team/app"]);
    expectError(await request(server, "GET", "/api/v1/repositories/team/app/tags"), 404, "NAME_UNKNOWN");
    expectError(await request(as(server, basic("bob", passwords.bob!)), "GET", "/api/v1/repositories/secret/vault/manifests/1"), 404, "NAME_UNKNOWN");
    expectError(await request(as(server, basic("bob", "wrong")), "GET", "/api/v1/repositories"), 401, "UNAUTHORIZED");
  });

  /** Signs in through the endpoint the page uses: the session cookie and the CSRF token. */
  async function signIn(user: string): Promise<{ as: TestServer; csrf: string; cookie: string }> {
    const reply = await request(server, "POST", "/api/v1/session", { body: JSON.stringify({ username: user, password: passwords[user] }), headers: { "Content-Type": "application/json", Origin: server.url } });
    assert.equal(reply.status, 200, reply.text());
    const cookie = String(reply.headers["set-cookie"]).split(";")[0]!;
    const view = reply.json() as { user: string; csrf: string };
    assert.equal(view.user, user);
    return { as: as(server, { Cookie: cookie }), csrf: view.csrf, cookie };
  }

  it("signs a user in with a cookie the page's scripts cannot read, and shows them what they may pull", async () => {
    const wrong = await request(server, "POST", "/api/v1/session", { body: JSON.stringify({ username: "alice", password: "nope" }), headers: { "Content-Type": "application/json" } });
    expectError(wrong, 401, "UNAUTHORIZED");
    assert.equal(wrong.headers["www-authenticate"], undefined);
    expectError(await request(server, "POST", "/api/v1/session", { body: "alice:alice-secret" }), 400, "UNSUPPORTED");
    const reply = await request(server, "POST", "/api/v1/session", { body: JSON.stringify({ username: "bob", password: passwords.bob }), headers: { "Content-Type": "application/json" } });
    assert.match(String(reply.headers["set-cookie"]), /^lading_session=[\w.-]+; Path=\/api\/v1\/; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    const bob = await signIn("bob");
    const session = await request(bob.as, "GET", "/api/v1/session");
    assert.deepEqual(session.json(), { user: "bob", signIn: true, csrf: bob.csrf, admin: false, deletes: true });
    assert.deepEqual((await getJson<Page<RepositoryRow>>(bob.as, "/api/v1/repositories")).items.map((r) => r.name), ["public/base", "team/app"]);
    const forged = `${bob.cookie.slice(0, -4)}AAAA`;
    assert.deepEqual((await getJson<Page<RepositoryRow>>(as(server, { Cookie: forged }), "/api/v1/repositories")).items.map((r) => r.name), ["public/base"], "a forged cookie is nobody's");
    const anonymous = (await request(server, "GET", "/api/v1/session")).json() as { user: null; csrf: string };
    assert.equal(anonymous.user, null);
    assert.notEqual(anonymous.csrf, bob.csrf);
    expectError(await request(server, "POST", "/api/v1/session", { body: JSON.stringify({ username: "bob", password: passwords.bob }), headers: { "Content-Type": "application/json", Origin: "https://evil.example" } }), 403, "DENIED");
  });

  it("deletes a tag or a manifest for a user who may, with the session's CSRF token, from this site only, and audits it", async () => {
    const carol = as(server, basic("carol", passwords.carol!));
    const doomed = await pushImage(carol, "team/app", "doomed");
    await pushManifest(carol, "team/app", "doomed-too", doomed.body, mt.ociManifest);
    const alice = await signIn("alice");
    const bob = await signIn("bob");
    const tagPath = "/api/v1/repositories/team/app/tags/doomed";
    expectError(await request(alice.as, "DELETE", tagPath), 403, "DENIED", "no CSRF token");
    expectError(await request(alice.as, "DELETE", tagPath, { headers: { "X-CSRF-Token": bob.csrf } }), 403, "DENIED", "another session's token");
    expectError(await request(alice.as, "DELETE", tagPath, { headers: { "X-CSRF-Token": alice.csrf, Origin: "https://evil.example" } }), 403, "DENIED", "another site");
    expectError(await request(bob.as, "DELETE", tagPath, { headers: { "X-CSRF-Token": bob.csrf } }), 403, "DENIED", "bob may only pull");
    assert.equal((await getJson<{ canDelete: boolean }>(bob.as, "/api/v1/repositories/team/app/tags")).canDelete, false);
    assert.equal((await getJson<{ canDelete: boolean }>(alice.as, "/api/v1/repositories/team/app/tags")).canDelete, true);
    assert.equal((await request(alice.as, "DELETE", tagPath, { headers: { "X-CSRF-Token": alice.csrf, Origin: server.url } })).status, 204);
    expectError(await request(alice.as, "DELETE", tagPath, { headers: { "X-CSRF-Token": alice.csrf } }), 404, "MANIFEST_UNKNOWN");
    assert.deepEqual((await getJson<Page<TagRow>>(alice.as, "/api/v1/repositories/team/app/tags")).items.map((t) => t.tag), ["1", "doomed-too"]);
    const manifestPath = `/api/v1/repositories/team/app/manifests/${doomed.digest}`;
    expectError(await request(alice.as, "DELETE", "/api/v1/repositories/team/app/manifests/doomed-too", { headers: { "X-CSRF-Token": alice.csrf } }), 400, "UNSUPPORTED");
    assert.equal((await request(alice.as, "DELETE", manifestPath, { headers: { "X-CSRF-Token": alice.csrf } })).status, 204);
    expectError(await request(carol, "GET", `/v2/team/app/manifests/${doomed.digest}`), 404, "MANIFEST_UNKNOWN");
    assert.deepEqual((await getJson<Page<TagRow>>(alice.as, "/api/v1/repositories/team/app/tags")).items.map((t) => t.tag), ["1"]);
    const audit = (await readFile(server.files.audit, "utf8")).trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    const deletes = audit.filter((e) => e.event === "delete").map((e) => [e.user, e.repository, e.reference ?? e.digest]);
    assert.deepEqual(deletes.slice(-2), [["alice", "team/app", "doomed"], ["alice", "team/app", doomed.digest]]);
  });

  it("shows an admin what the store holds and what a collection would free, estimated by a dry run when asked", async () => {
    const carol = await signIn("carol");
    const bob = await signIn("bob");
    expectError(await request(bob.as, "GET", "/api/v1/storage"), 403, "DENIED");
    expectError(await request(server, "GET", "/api/v1/storage"), 403, "DENIED");
    expectError(await request(bob.as, "POST", "/api/v1/storage/estimate", { headers: { "X-CSRF-Token": bob.csrf } }), 403, "DENIED");
    expectError(await request(carol.as, "POST", "/api/v1/storage/estimate"), 403, "DENIED", "no CSRF token");
    const orphan = randomBlob(40_000);
    const orphanDigest = await pushBlob(as(server, basic("carol", passwords.carol!)), "team/app", orphan);
    const started = await request(carol.as, "POST", "/api/v1/storage/estimate", { headers: { "X-CSRF-Token": carol.csrf } });
    assert.equal(started.status, 202, started.text());
    type View = { running: boolean; error: string | null; estimate: { blobs: number; bytesStored: number; blobsFreed: number; bytesFreed: number } | null; schedule: unknown; graceMs: number };
    let view = started.json() as View;
    for (let i = 0; view.running && i < 100; i++) {
      await sleep(100);
      view = await getJson<View>(carol.as, "/api/v1/storage");
    }
    assert.equal(view.error, null);
    const e = view.estimate!;
    assert.ok(e.blobsFreed >= 1 && e.bytesFreed >= orphan.length, JSON.stringify(view));
    assert.ok(e.bytesStored >= e.bytesFreed && e.blobs > e.blobsFreed, JSON.stringify(view));
    assert.deepEqual([view.schedule, view.graceMs], [null, 0]);
    assert.equal((await request(as(server, basic("carol", passwords.carol!)), "HEAD", `/v2/team/app/blobs/${orphanDigest}`)).status, 200, "a dry run deletes nothing");
    assert.equal(((await request(carol.as, "GET", "/api/v1/session")).json() as { admin: boolean }).admin, true);
  });

  it("signs out: the cookie is cleared and the session's token no longer works", async () => {
    const alice = await signIn("alice");
    expectError(await request(alice.as, "DELETE", "/api/v1/session"), 403, "DENIED");
    const out = await request(alice.as, "DELETE", "/api/v1/session", { headers: { "X-CSRF-Token": alice.csrf } });
    assert.equal(out.status, 204);
    assert.match(String(out.headers["set-cookie"]), /^lading_session=; Path=\/api\/v1\/; Max-Age=0; HttpOnly; SameSite=Strict$/);
  });
});

describe("web UI deletes where the registry takes none", () => {
  it("offers no delete, and refuses one, with storage.delete.enabled false", async () => {
    const server = await startTestServer({ "storage.delete.enabled": false });
    try {
      await pushImage(server, "apps/kept", "1");
      const session = (await request(server, "GET", "/api/v1/session")).json() as { csrf: string; deletes: boolean; signIn: boolean; user: null };
      assert.deepEqual([session.deletes, session.signIn, session.user], [false, false, null]);
      assert.equal((await getJson<{ canDelete: boolean }>(server, "/api/v1/repositories/apps/kept/tags")).canDelete, false);
      expectError(await request(server, "DELETE", "/api/v1/repositories/apps/kept/tags/1", { headers: { "X-CSRF-Token": session.csrf } }), 405, "UNSUPPORTED");
      expectError(await request(server, "POST", "/api/v1/session", { body: "{}" }), 404, "UNSUPPORTED");
      assert.equal((await getJson<Page<TagRow>>(server, "/api/v1/repositories/apps/kept/tags")).total, 1);
    } finally {
      await server.close();
    }
  });
});

describe("where the web UI is mounted", () => {
  it("serves its page at / by default, with a strict content security policy, and its bundle for good", async () => {
    const server = await startTestServer();
    try {
      const page = await request(server, "GET", "/");
      assert.equal(page.status, 200);
      assert.match(String(page.headers["content-type"]), /^text\/html/);
      assert.match(String(page.headers["content-security-policy"]), /default-src 'none'; script-src 'self'/);
      const script = /src="(assets\/app-[^"]+\.js)"/.exec(page.text())?.[1];
      assert.ok(script !== undefined, page.text());
      const asset = await request(server, "GET", `/${script}`);
      assert.equal(asset.status, 200);
      assert.match(String(asset.headers["cache-control"]), /immutable/);
      expectError(await request(server, "GET", "/assets/nothing.js"), 404, "UNSUPPORTED");
      assert.equal((await request(server, "GET", "/v2/")).status, 200, "the registry API stays where it is");
    } finally {
      await server.close();
    }
  });

  it("moves to lading.ui.path, and is gone with lading.ui.enabled false", async () => {
    const moved = await startTestServer({ "lading.ui.path": "/ui/" });
    try {
      const bare = await request(moved, "GET", "/ui");
      assert.deepEqual([bare.status, bare.headers.location], [301, "/ui/"]);
      assert.equal((await request(moved, "GET", "/ui/")).status, 200);
      expectError(await request(moved, "GET", "/"), 404, "UNSUPPORTED");
      assert.equal((await request(moved, "GET", "/api/v1/repositories")).status, 200);
    } finally {
      await moved.close();
    }
    const off = await startTestServer({ "lading.ui.enabled": false });
    try {
      expectError(await request(off, "GET", "/"), 404, "UNSUPPORTED");
      expectError(await request(off, "GET", "/api/v1/repositories"), 404, "UNSUPPORTED");
    } finally {
      await off.close();
    }
  });

  it("refuses a path the registry's own endpoints hold", async () => {
    for (const path of ["/v2/", "/api/", "ui/", "/ui"]) {
      await assert.rejects(loadConfig({ overrides: { "lading.ui.path": path } }), /lading\.ui\.path/, path);
    }
  });
});
