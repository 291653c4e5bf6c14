/**
 * The pull-through cache against real upstreams on loopback: Debian's docker-registry (through a
 * proxy that counts what reaches it and can play dead), a lading with token auth standing for
 * Docker Hub's token flow, and a hand-made upstream that lies about digests. Cold and warm pulls,
 * concurrent cold pulls (one upstream fetch), a tag moved upstream after its TTL, an upstream down
 * (stale served, marked), lies refused with nothing stored, a mirror that takes pushes beside,
 * `?ns=` and registry:2's `proxy` section.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { descriptor, digestOf, expectError, mt, pushBlobInTwo, pushManifest, randomBlob, request, startTestServer, type TestServer } from "../api/support.js";
import { as, basic, startAuthServer, passwords, type AuthServer } from "../auth/support.js";
import { CountingProxy } from "../helpers/counting-proxy.js";
import { requireTools } from "../helpers/exec.js";
import { startDockerRegistry, type RunningRegistry } from "../helpers/registries.js";

requireTools("docker-registry");


interface Image {
  manifest: Buffer;
  digest: string;
  layer: Buffer;
  layerDigest: string;
}

/** An image with one layer of `layerBytes` random bytes, pushed as `repo:tag`. */
async function pushImage(server: TestServer, repo: string, tag: string, layerBytes = 300_000): Promise<Image> {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, tag }));
  const layer = randomBlob(layerBytes);
  await pushBlobInTwo(server, repo, config);
  const layerDigest = await pushBlobInTwo(server, repo, layer);
  const manifest = { schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, config), layers: [descriptor(mt.ociLayer, layer)] };
  const pushed = await pushManifest(server, repo, tag, manifest, mt.ociManifest);
  return { manifest: pushed.body, digest: pushed.digest, layer, layerDigest };
}

const accept = { Accept: `${mt.ociManifest}, ${mt.ociIndex}` };

describe("pull-through cache", { timeout: 300_000 }, () => {
  let dir: string;
  let upstream: RunningRegistry;
  let upstreamServer: TestServer;
  let proxy: CountingProxy;
  let mirror: TestServer;
  let app: Image;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lading-mirror-"));
    upstream = await startDockerRegistry(join(dir, "upstream"), dir);
    upstreamServer = { url: upstream.url, host: "127.0.0.1", port: Number(new URL(upstream.url).port) } as TestServer;
    app = await pushImage(upstreamServer, "library/app", "v1");
    proxy = await CountingProxy.start(upstream.url);
    mirror = await startTestServer({ "lading.mirror.upstreams": [{ prefix: "hub", url: proxy.url, namespace: "docker.io", tagttl: "500ms" }] });
  });
  after(async () => {
    await mirror?.close();
    await proxy?.close();
    await upstream?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("fetches what it lacks on the first pull, verified, and serves later pulls from its store", async () => {
    const cold = await request(mirror, "GET", "/v2/hub/library/app/manifests/v1", { headers: accept });
    assert.equal(cold.status, 200, cold.text());
    assert.deepEqual([cold.header("docker-content-digest"), cold.body.equals(app.manifest)], [app.digest, true]);
    const blob = await request(mirror, "GET", `/v2/hub/library/app/blobs/${app.layerDigest}`);
    assert.equal(blob.status, 200);
    assert.ok(blob.body.equals(app.layer));
    const before = proxy.seen.length;
    const warm = await request(mirror, "GET", `/v2/hub/library/app/manifests/${app.digest}`, { headers: accept });
    assert.ok(warm.body.equals(app.manifest));
    assert.ok((await request(mirror, "GET", `/v2/hub/library/app/blobs/${app.layerDigest}`)).body.equals(app.layer));
    assert.ok((await request(mirror, "GET", "/v2/hub/library/app/manifests/v1", { headers: accept })).body.equals(app.manifest));
    assert.deepEqual(proxy.seen.slice(before), [], "warm pulls within the tag's TTL reach no upstream");
    // The cache is the ordinary layout: the tag is a tag, the blob is linked.
    assert.deepEqual((await request(mirror, "GET", "/v2/hub/library/app/tags/list")).json(), { name: "hub/library/app", tags: ["v1"] });
  });

  it("fetches a blob once however many clients ask for it at once", async () => {
    const image = await pushImage(upstreamServer, "library/busy", "v1", 4 << 20);
    const path = `/v2/hub/library/busy/blobs/${image.layerDigest}`;
    const replies = await Promise.all(Array.from({ length: 6 }, () => request(mirror, "GET", path)));
    for (const r of replies) assert.ok(r.status === 200 && r.body.equals(image.layer));
    assert.equal(proxy.count(new RegExp(`^GET /v2/library/busy/blobs/${image.layerDigest}$`)), 1);
  });

  it("asks upstream about a tag again after its TTL, with a HEAD, and follows it when it moved", async () => {
    const first = await pushImage(upstreamServer, "library/moving", "latest");
    const got = async () => (await request(mirror, "GET", "/v2/hub/library/moving/manifests/latest", { headers: accept })).header("docker-content-digest");
    assert.equal(await got(), first.digest);
    const second = await pushImage(upstreamServer, "library/moving", "latest");
    assert.equal(await got(), first.digest, "within the TTL: the cached tag");
    await new Promise((resolve) => setTimeout(resolve, 600));
    const heads = proxy.count(/^HEAD \/v2\/library\/moving\/manifests\/latest$/);
    const gets = proxy.count(/^GET \/v2\/library\/moving\/manifests\/latest$/);
    assert.equal(await got(), second.digest, "after the TTL: where the tag is now");
    assert.equal(proxy.count(/^HEAD \/v2\/library\/moving\/manifests\/latest$/), heads + 1);
    assert.equal(proxy.count(/^GET \/v2\/library\/moving\/manifests\/latest$/), gets, "the manifest itself is fetched by digest, not by tag");
    await new Promise((resolve) => setTimeout(resolve, 600));
    const fetchedBefore = proxy.count(/^GET \/v2\/library\/moving\/manifests\//);
    assert.equal(await got(), second.digest);
    assert.equal(proxy.count(/^GET \/v2\/library\/moving\/manifests\//), fetchedBefore, "an unmoved tag costs a HEAD only");
  });

  it("serves what it has, marked stale, while the upstream is down; what it lacks fails clearly", async () => {
    await new Promise((resolve) => setTimeout(resolve, 600));
    for (const down of [503, 429]) {
      proxy.failWith = down;
      try {
        const stale = await request(mirror, "GET", "/v2/hub/library/app/manifests/v1", { headers: accept });
        assert.equal(stale.status, 200);
        assert.ok(stale.body.equals(app.manifest));
        assert.match(String(stale.headers.warning), /^110 .*Stale/);
        expectError(await request(mirror, "GET", "/v2/hub/library/never/manifests/v1", { headers: accept, serverError: true }), down === 429 ? 429 : 503, down === 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE");
      } finally {
        proxy.failWith = undefined;
      }
    }
    await proxy.close();
    try {
      await new Promise((resolve) => setTimeout(resolve, 600));
      const stale = await request(mirror, "GET", "/v2/hub/library/app/manifests/v1", { headers: accept });
      assert.deepEqual([stale.status, /Stale/.test(String(stale.headers.warning))], [200, true], "a refused connection too");
      assert.ok((await request(mirror, "GET", `/v2/hub/library/app/blobs/${app.layerDigest}`)).body.equals(app.layer), "blobs need no upstream");
    } finally {
      await proxy.listen();
    }
    expectError(await request(mirror, "GET", "/v2/hub/library/app/manifests/nope", { headers: accept }), 404, "MANIFEST_UNKNOWN");
  });

  it("lists a mirrored repository's tags as the upstream lists them, again after the TTL, and the cached ones while it is down", async () => {
    for (const tag of ["a", "b", "c"]) await pushImage(upstreamServer, "library/listed", tag, 1000);
    assert.equal((await request(mirror, "GET", "/v2/hub/library/listed/manifests/b", { headers: accept })).status, 200);
    const list = async (query = "") => request(mirror, "GET", `/v2/hub/library/listed/tags/list${query}`);
    assert.deepEqual((await list()).json(), { name: "hub/library/listed", tags: ["a", "b", "c"] }, "the upstream's tags, not only those pulled");
    const first = await list("?n=2");
    assert.deepEqual(first.json(), { name: "hub/library/listed", tags: ["a", "b"] });
    assert.equal(first.header("link"), '</v2/hub/library/listed/tags/list?n=2&last=b>; rel="next"');
    assert.deepEqual((await list("?n=2&last=b")).json(), { name: "hub/library/listed", tags: ["c"] });
    const asked = proxy.count(/^GET \/v2\/library\/listed\/tags\/list/);
    await pushImage(upstreamServer, "library/listed", "d", 1000);
    assert.deepEqual((await list()).json().tags, ["a", "b", "c"], "within the TTL: the list the mirror has");
    assert.equal(proxy.count(/^GET \/v2\/library\/listed\/tags\/list/), asked, "not asked again within the TTL");
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.deepEqual((await list()).json().tags, ["a", "b", "c", "d"], "after the TTL: as the upstream lists them now");
    await new Promise((resolve) => setTimeout(resolve, 600));
    proxy.failWith = 503;
    try {
      const stale = await list();
      assert.equal(stale.status, 200);
      assert.deepEqual(stale.json(), { name: "hub/library/listed", tags: ["b"] }, "the tags the cache holds");
      assert.match(String(stale.headers.warning), /^110 .*Stale/);
      expectError(await request(mirror, "GET", "/v2/hub/library/unlisted/tags/list", { serverError: true }), 503, "UNAVAILABLE", "nothing cached: the upstream's failure");
    } finally {
      proxy.failWith = undefined;
    }
    expectError(await request(mirror, "GET", "/v2/hub/library/unknown/tags/list"), 404, "NAME_UNKNOWN");
  });

  it("takes pushes to its own repositories and refuses them into mirrored ones", async () => {
    await pushImage(mirror, "team/own", "1", 1000);
    expectError(await request(mirror, "POST", "/v2/hub/library/app/blobs/uploads/"), 405, "UNSUPPORTED");
    expectError(await request(mirror, "PUT", "/v2/hub/library/app/manifests/v9", { body: app.manifest, headers: { "Content-Type": mt.ociManifest } }), 405, "UNSUPPORTED");
  });

  it("judges access to a mirrored repository by its local name, before anything is asked upstream", async () => {
    let guarded: AuthServer | undefined;
    try {
      guarded = await startAuthServer("basic", { "lading.mirror.upstreams": [{ prefix: "team/hub", url: proxy.url, namespace: "docker.io", tagttl: "0s" }, { prefix: "vault", url: proxy.url, namespace: "vault.example" }] });
      const bob = as(guarded, basic("bob", passwords.bob!));
      const alice = as(guarded, basic("alice", passwords.alice!));
      const asked = proxy.count(/./);
      expectError(await request(guarded, "GET", "/v2/team/hub/library/app/manifests/v1", { headers: accept }), 401, "UNAUTHORIZED", "anonymous: team/** is not public");
      expectError(await request(bob, "GET", "/v2/vault/library/app/manifests/v1", { headers: accept }), 403, "DENIED", "no rule gives bob vault/**");
      expectError(await request(bob, "GET", `/v2/vault/library/app/blobs/${app.layerDigest}`), 403, "DENIED");
      expectError(await request(guarded, "GET", "/v2/public/app/manifests/v1?ns=docker.io", { headers: accept }), 401, "UNAUTHORIZED", "judged as team/hub/public/app, not as the public public/app");
      assert.equal(proxy.count(/./), asked, "a refused pull asks nothing upstream");
      const reply = await request(bob, "GET", "/v2/team/hub/library/app/manifests/v1", { headers: accept });
      assert.equal(reply.status, 200, reply.text());
      assert.equal(reply.header("docker-content-digest"), app.digest);
      assert.ok((await request(bob, "GET", `/v2/team/hub/library/app/blobs/${app.layerDigest}`)).body.equals(app.layer));
      const named = await request(bob, "GET", "/v2/library/app/manifests/v1?ns=docker.io", { headers: accept });
      assert.deepEqual([named.status, named.header("oci-namespace")], [200, "docker.io"]);
      expectError(await request(alice, "PUT", "/v2/team/hub/library/app/manifests/v9", { body: app.manifest, headers: { "Content-Type": mt.ociManifest } }), 405, "UNSUPPORTED", "a right to push under team/** is no right to push into a mirror");
    } finally {
      await guarded?.close();
    }
  });

  it("serves a pull that names its source with ?ns= from that upstream's mirror, saying so in OCI-Namespace", async () => {
    const reply = await request(mirror, "GET", "/v2/library/app/manifests/v1?ns=docker.io", { headers: accept });
    assert.equal(reply.status, 200, reply.text());
    assert.equal(reply.header("oci-namespace"), "docker.io");
    assert.ok(reply.body.equals(app.manifest));
    const blob = await request(mirror, "GET", `/v2/library/app/blobs/${app.layerDigest}?ns=docker.io`);
    assert.ok(blob.body.equals(app.layer));
    expectError(await request(mirror, "GET", "/v2/library/app/manifests/v1?ns=quay.io", { headers: accept }), 404, ["NAME_UNKNOWN", "MANIFEST_UNKNOWN"], "an unknown namespace is ignored: the local repository does not exist");
  });
});

describe("pull-through cache retention", { timeout: 300_000 }, () => {
  it("removes what was not pulled within the upstream's ttl, keeps what was, and fetches it again when asked", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lading-retention-"));
    const upstream = await startDockerRegistry(join(dir, "upstream"), dir);
    const upstreamServer = { url: upstream.url, host: "127.0.0.1", port: Number(new URL(upstream.url).port) } as TestServer;
    const proxy = await CountingProxy.start(upstream.url);
    const root = join(dir, "store");
    const mirror = await startTestServer({ "lading.mirror.upstreams": [{ prefix: "hub", url: proxy.url, ttl: "2s", tagttl: "1h" }] }, root);
    let closed = false;
    try {
      const kept = await pushImage(upstreamServer, "library/kept", "1", 1000);
      const dropped = await pushImage(upstreamServer, "library/dropped", "1", 1000);
      await pushImage(upstreamServer, "library/gone", "1", 1000);
      for (const repo of ["kept", "dropped", "gone"]) assert.equal((await request(mirror, "GET", `/v2/hub/library/${repo}/manifests/1`, { headers: accept })).status, 200);
      // kept is pulled every half second; dropped not again.
      const deadline = Date.now() + 3500;
      while (Date.now() < deadline) {
        assert.equal((await request(mirror, "GET", "/v2/hub/library/kept/manifests/1", { headers: accept })).status, 200);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      // What the cache holds: its tag lists while the upstream fails.
      proxy.failWith = 503;
      try {
        assert.deepEqual((await request(mirror, "GET", "/v2/hub/library/kept/tags/list")).json(), { name: "hub/library/kept", tags: ["1"] });
        assert.deepEqual((await request(mirror, "GET", "/v2/hub/library/dropped/tags/list")).json(), { name: "hub/library/dropped", tags: [] }, "its tag went with its manifest");
      } finally {
        proxy.failWith = undefined;
      }
      const fetched = proxy.count(new RegExp(`^GET /v2/library/dropped/manifests/${dropped.digest}$`));
      const again = await request(mirror, "GET", "/v2/hub/library/dropped/manifests/1", { headers: accept });
      assert.equal(again.header("docker-content-digest"), dropped.digest);
      assert.equal(proxy.count(new RegExp(`^GET /v2/library/dropped/manifests/${dropped.digest}$`)), fetched + 1, "fetched again");
      assert.equal(proxy.count(new RegExp(`^GET /v2/library/kept/manifests/${kept.digest}$`)), 1, "kept was fetched once");
      // The last pulls kept in the store: of what is cached, none of what was removed.
      await mirror.close();
      closed = true;
      const pulls = (repo: string) => readFile(join(root, ".lading-mirror/pulls/hub/library", `${repo}.json`), "utf8").then((text) => Object.keys(JSON.parse(text) as object), () => undefined);
      assert.deepEqual([await pulls("kept"), await pulls("dropped"), await pulls("gone")], [[kept.digest], [dropped.digest], undefined]);
    } finally {
      if (!closed) await mirror.close();
      await proxy.close();
      await upstream.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("pull-through cache of upstreams that lie or ask for a token", { timeout: 300_000 }, () => {
  it("refuses a manifest or a blob whose bytes do not match their digest, and stores nothing", async () => {
    const good = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mt.ociManifest, config: descriptor(mt.ociConfig, "{}"), layers: [] }));
    const blob = randomBlob(100_000);
    const liar = createServer((req, res) => {
      if (req.url === "/v2/") return res.writeHead(200).end("{}");
      if (req.url!.includes("/manifests/")) {
        // The digest of the good bytes, with other bytes.
        res.writeHead(200, { "Content-Type": mt.ociManifest, "Docker-Content-Digest": digestOf(good) });
        return res.end(req.method === "HEAD" ? undefined : Buffer.concat([good, Buffer.from(" ")]));
      }
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": blob.length });
      res.end(req.method === "HEAD" ? undefined : Buffer.concat([blob.subarray(0, -1), Buffer.from([blob.at(-1)! ^ 1])]));
    });
    await new Promise<void>((resolve) => liar.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
    const mirror = await startTestServer({ "lading.mirror.upstreams": [{ prefix: "liar", url }] });
    try {
      expectError(await request(mirror, "GET", "/v2/liar/app/manifests/v1", { headers: accept, serverError: true }), 502, "UNAVAILABLE");
      expectError(await request(mirror, "GET", `/v2/liar/app/manifests/${digestOf(good)}`, { headers: accept, serverError: true }), 502, "UNAVAILABLE");
      await assert.rejects(request(mirror, "GET", `/v2/liar/app/blobs/${digestOf(blob)}`, { serverError: true }), "the client gets the blob cut short");
      await new Promise<void>((resolve) => liar.close(() => resolve()));
      liar.closeAllConnections();
      expectError(await request(mirror, "GET", `/v2/liar/app/manifests/${digestOf(good)}`, { headers: accept, serverError: true }), 503, "UNAVAILABLE", "nothing was stored");
      expectError(await request(mirror, "GET", `/v2/liar/app/blobs/${digestOf(blob)}`, { serverError: true }), 503, "UNAVAILABLE", "nothing was stored");
    } finally {
      await mirror.close();
      liar.closeAllConnections();
    }
  });

  it("follows an upstream's token flow with the configured credentials, and reuses its tokens", async () => {
    let upstream: AuthServer | undefined;
    let proxy: CountingProxy | undefined;
    let mirror: TestServer | undefined;
    try {
      upstream = await startAuthServer("token");
      const carol = { ...upstream, headers: { Authorization: `Basic ${Buffer.from(`carol:${passwords.carol}`).toString("base64")}` } };
      const tokenReply = await request(carol, "GET", "/token?service=test-registry&scope=repository:team/app:pull,push");
      const token = (tokenReply.json() as { token: string }).token;
      const image = await pushImage({ ...upstream, headers: { Authorization: `Bearer ${token}` } }, "team/app", "v1", 2000);
      proxy = await CountingProxy.start(upstream.url);
      mirror = await startTestServer({ "lading.mirror.upstreams": [{ prefix: "corp", url: proxy.url, username: "bob", password: passwords.bob, tagttl: "0s" }] });
      for (let i = 0; i < 3; i++) {
        const reply = await request(mirror, "GET", "/v2/corp/team/app/manifests/v1", { headers: accept });
        assert.equal(reply.status, 200, reply.text());
        assert.equal(reply.header("docker-content-digest"), image.digest);
      }
      assert.ok((await request(mirror, "GET", `/v2/corp/team/app/blobs/${image.layerDigest}`)).body.equals(image.layer));
      assert.equal(proxy.count(/^GET \/token/), 1, "one token, reused while it lasts");
      expectError(await request(mirror, "GET", "/v2/corp/secret/vault/manifests/v1", { headers: accept, serverError: true }), 503, "UNAVAILABLE", "bob may not pull there: the upstream refuses the mirror");
    } finally {
      await mirror?.close();
      await proxy?.close();
      await upstream?.close();
    }
  });

  it("signs in upstream with a docker config.json's credentials: inline, and from a credential helper", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lading-mirror-authfile-"));
    const path = process.env.PATH;
    let upstream: AuthServer | undefined;
    let mirror: TestServer | undefined;
    try {
      upstream = await startAuthServer("token");
      const carol = { ...upstream, headers: { Authorization: `Basic ${Buffer.from(`carol:${passwords.carol}`).toString("base64")}` } };
      const token = ((await request(carol, "GET", "/token?service=test-registry&scope=repository:team/app:pull,push")).json() as { token: string }).token;
      const image = await pushImage({ ...upstream, headers: { Authorization: `Bearer ${token}` } }, "team/app", "v1", 2000);
      const host = new URL(upstream.url).host;
      await writeFile(join(dir, "inline.json"), JSON.stringify({ auths: { [host]: { auth: Buffer.from(`bob:${passwords.bob}`).toString("base64") } } }));
      await writeFile(join(dir, "helper.json"), JSON.stringify({ credHelpers: { [host]: "lading-test" } }));
      // The helper protocol: the server's address on stdin, its credentials as JSON on stdout.
      const helper = join(dir, "docker-credential-lading-test");
      await writeFile(helper, `#!/bin/sh\nread server\necho "$server" >> ${join(dir, "asked")}\nprintf '{"ServerURL":"%s","Username":"bob","Secret":"%s"}' "$server" '${passwords.bob}'\n`, { mode: 0o755 });
      process.env.PATH = `${dir}:${path ?? ""}`;
      mirror = await startTestServer({
        "lading.mirror.upstreams": [
          { prefix: "inline", url: upstream.url, authfile: join(dir, "inline.json") },
          { prefix: "helper", url: upstream.url, authfile: join(dir, "helper.json") },
        ],
      });
      for (const prefix of ["inline", "helper"]) {
        const reply = await request(mirror, "GET", `/v2/${prefix}/team/app/manifests/v1`, { headers: accept });
        assert.equal(reply.status, 200, `${prefix}: ${reply.text()}`);
        assert.equal(reply.header("docker-content-digest"), image.digest);
      }
      assert.match(await readFile(join(dir, "asked"), "utf8"), new RegExp(host.replace(/\./g, "\\.")), "the helper was asked for the upstream's credentials");
    } finally {
      process.env.PATH = path;
      await mirror?.close();
      await upstream?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses an upstream whose credentials file cannot be read, naming it", async () => {
    await assert.rejects(startTestServer({ "lading.mirror.upstreams": [{ prefix: "x", url: "http://127.0.0.1:9", authfile: "/nonexistent/auth.json" }] }), /lading\.mirror\.upstreams\.0\.authfile: \/nonexistent\/auth\.json cannot be read \(ENOENT\)/);
  });

  it("reads registry:2's proxy section: one upstream for every repository, and no pushes", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lading-proxy-"));
    const upstream = await startDockerRegistry(join(dir, "upstream"), dir);
    const upstreamServer = { url: upstream.url, host: "127.0.0.1", port: Number(new URL(upstream.url).port) } as TestServer;
    const mirror = await startTestServer({ proxy: { remoteurl: upstream.url } });
    try {
      const image = await pushImage(upstreamServer, "any/thing", "1", 1000);
      const reply = await request(mirror, "GET", "/v2/any/thing/manifests/1", { headers: accept });
      assert.deepEqual([reply.status, reply.header("docker-content-digest")], [200, image.digest]);
      expectError(await request(mirror, "POST", "/v2/mine/blobs/uploads/"), 405, "UNSUPPORTED");
    } finally {
      await mirror.close();
      await upstream.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
