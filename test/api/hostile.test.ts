import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { Readable } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { applied } from "../../src/storage/ops.js";
import { storageProblems } from "./storage-check.js";
import {
  apiStorage,
  bucketLeftovers,
  digestOf,
  expectError,
  mt,
  pushImage,
  randomBlob,
  request,
  sleep,
  startTestServer,
  startUpload,
  withDigest,
  type PushedImage,
  type RequestOptions,
  type TestServer,
} from "./support.js";

/*
 * Hostile and broken input (issue 18), beyond the NAME_INVALID and "never a 500" checks of
 * errors.test.ts: each request is refused with the error code it deserves, in the OCI envelope,
 * and nothing it names is written (the store, and on the filesystem the directory around it, are
 * the same after every refused request as before).
 */

/** One hostile request and the error it must get. */
interface Case {
  method: string;
  path: string;
  options?: RequestOptions;
  status: number;
  codes: string[];
}

const hex = digestOf("hostile").slice("sha256:".length);
const name400 = { status: 400, codes: ["NAME_INVALID"] };
const digest400 = { status: 400, codes: ["DIGEST_INVALID"] };
const upload404 = { status: 404, codes: ["BLOB_UPLOAD_UNKNOWN"] };
const pagination400 = { status: 400, codes: ["PAGINATION_NUMBER_INVALID"] };
const range416 = { status: 416, codes: ["RANGE_INVALID"] };

/** Raw bytes on a fresh connection; `end` half-closes after them. Resolves with what came back. */
function exchange(server: TestServer, bytes: Buffer, end = false): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(server.port, server.host);
    const chunks: Buffer[] = [];
    const done = () => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    };
    socket.setTimeout(2000, done);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("close", done);
    socket.on("error", done);
    socket.write(bytes);
    if (end) socket.end();
  });
}

describe("hostile input", () => {
  let server: TestServer;
  /** On the filesystem: the directory holding the store, and nothing else. */
  let outer: string | undefined;
  let image: PushedImage;
  const repo = "hostile/base";
  before(async () => {
    outer = apiStorage === "filesystem" ? await mkdtemp(join(tmpdir(), "lading-hostile-")) : undefined;
    server = await startTestServer({}, outer === undefined ? undefined : join(outer, "store"));
    image = await pushImage(server, repo, "latest");
  });
  after(async () => {
    await server.close();
    if (outer !== undefined) await rm(outer, { recursive: true, force: true });
  });

  /** Everything stored: every path around the store (journal aside) or every key of its bucket. */
  async function snapshot(): Promise<string[]> {
    if (outer === undefined) {
      const { keys, uploads } = await bucketLeftovers(server, "");
      return [...keys, ...uploads.map((key) => `multipart upload ${key}`)].sort();
    }
    await applied(server.running.registry.driver);
    return (await readdir(outer, { recursive: true })).filter((path) => !path.includes(".lading-journal")).sort();
  }

  async function catalog(): Promise<string[]> {
    const reply = await request(server, "GET", "/v2/_catalog");
    assert.equal(reply.status, 200, reply.text());
    return reply.json<{ repositories: string[] }>().repositories;
  }

  /** Sends every case, asserts its error, then that the server still serves the image and that nothing was stored. */
  async function refuseAll(cases: Case[]): Promise<void> {
    const before = await snapshot();
    for (const { method, path, options, status, codes } of cases) {
      expectError(await request(server, method, path, options), status, codes, `${method} ${path.slice(0, 120)}`);
    }
    assert.equal((await request(server, "GET", `/v2/${repo}/manifests/latest`)).status, 200, "the server stopped serving");
    assert.deepEqual(await catalog(), [repo]);
    assert.deepEqual(await snapshot(), before, "a refused request changed the store");
  }

  /** Bytes an upload holds once the server is done with a dead request (its Range stops moving). */
  async function settledSize(location: string): Promise<number> {
    let range: string | undefined;
    for (let i = 0; i < 50; i++, await sleep(50)) {
      const reply = await request(server, "GET", location);
      assert.equal(reply.status, 204, reply.text());
      if (i > 0 && reply.header("range") === range) break;
      range = reply.header("range");
    }
    return range === "0-0" ? 0 : Number(range?.split("-")[1]) + 1;
  }

  const manifestPut = (): RequestOptions => ({ body: image.body, headers: { "Content-Type": mt.ociManifest } });

  it("path traversal and odd bytes in names, on every route, deletes and upload sessions included", async () => {
    const names = ["%2e%2e", "a/%2e%2e/b", "a%2F%2E%2E%2F%2E%2E%2Fb", "a%5C..%5Cb", "%C0%AE%C0%AE", "a%FFb", "a%E2%80%AEb", "a/_manifests", "a/_uploads/b", "a%0Ab"];
    const cases = names.flatMap((name): Case[] => [
      { method: "DELETE", path: `/v2/${name}/manifests/latest`, ...name400 },
      { method: "DELETE", path: `/v2/${name}/manifests/${image.digest}`, ...name400 },
      { method: "DELETE", path: `/v2/${name}/blobs/${image.config.digest}`, ...name400 },
      { method: "PUT", path: `/v2/${name}/manifests/${image.digest}`, options: manifestPut(), ...name400 },
      { method: "POST", path: `/v2/${name}/blobs/uploads/?digest=${digestOf("x")}`, options: { body: "x" }, ...name400 },
      { method: "POST", path: `/v2/${name}/blobs/uploads/?mount=${image.config.digest}&from=${repo}`, ...name400 },
      { method: "POST", path: `/v2/${repo}/blobs/uploads/?mount=${image.config.digest}&from=${name}`, ...name400 },
      ...["GET", "PATCH", "PUT", "DELETE"].map((method) => ({ method, path: `/v2/${name}/blobs/uploads/0f0e4a04-1d5c-4b0c-9d1e-3c4b5a697887`, options: { body: "x" }, ...name400 })),
    ]);
    await refuseAll(cases);
  });

  it("path traversal and odd bytes in tags: unknown when read or deleted, invalid when pushed", async () => {
    const tags = ["..", "%2e%2e", "..%2F..%2Fx", "%C0%AE", "a%00", "a%0A", "%FF", "x".repeat(129), ".hidden", "-dash"];
    const cases = tags.flatMap((tag): Case[] => [
      ...["GET", "HEAD", "DELETE"].map((method) => ({ method, path: `/v2/${repo}/manifests/${tag}`, status: 404, codes: ["MANIFEST_UNKNOWN"] })),
      { method: "PUT", path: `/v2/${repo}/manifests/${tag}`, options: manifestPut(), status: 400, codes: ["MANIFEST_INVALID", "TAG_INVALID"] },
      { method: "PUT", path: `/v2/${repo}/manifests/${image.digest}?tag=ok&tag=${tag}`, options: manifestPut(), status: 400, codes: ["MANIFEST_INVALID", "TAG_INVALID"] },
    ]);
    await refuseAll(cases);
    assert.deepEqual((await request(server, "GET", `/v2/${repo}/tags/list`)).json<{ tags: string[] }>().tags, ["latest"]);
  });

  it("path traversal and malformed digests in paths and queries: DIGEST_INVALID naming the right fault", async () => {
    const digests = [`sha256:..%2F..%2F${hex.slice(6)}`, "sha256%3A..", `..%2Fsha256:${hex}`, `sha256:${hex.toUpperCase()}`, `sha256:${hex}%00`, `sha256:${hex.slice(1)}`, `sha512:${hex}`, `sha256:${hex}:x`, `sha256:${hex}%2F..`];
    const cases = digests.flatMap((digest): Case[] => [
      ...["GET", "HEAD", "DELETE"].map((method) => ({ method, path: `/v2/${repo}/blobs/${digest}`, ...digest400 })),
      ...["GET", "HEAD", "DELETE"].map((method) => ({ method, path: `/v2/${repo}/manifests/${digest}`, ...digest400 })),
      { method: "GET", path: `/v2/${repo}/referrers/${digest}`, ...digest400 },
      { method: "POST", path: `/v2/${repo}/blobs/uploads/?digest=${digest}`, options: { body: "x" }, ...digest400 },
      { method: "POST", path: `/v2/${repo}/blobs/uploads/?mount=${digest}&from=${repo}`, ...digest400 },
    ]);
    await refuseAll(cases);
    // A digest of a known algorithm is malformed; only another algorithm is unsupported.
    const malformed = expectError(await request(server, "GET", `/v2/${repo}/blobs/sha256:${hex.slice(1)}`), 400, "DIGEST_INVALID");
    assert.match(malformed?.message ?? "", /not a valid digest/);
    const unsupported = expectError(await request(server, "GET", `/v2/${repo}/blobs/md5:${hex.slice(32)}`), 400, "DIGEST_INVALID");
    assert.match(unsupported?.message ?? "", /unsupported algorithm/);
  });

  it("path traversal and odd bytes in upload ids, on every upload method", async () => {
    const ids = ["..", "%2e%2e%2F%2e%2e", "..%2F_layers", "%C0%AE", ".lading-tmp-x", "a%00", "-x", "x".repeat(129), "a%2Fb", "%FF"];
    await refuseAll(ids.flatMap((id) => ["GET", "PATCH", "PUT", "DELETE"].map((method) => ({ method, path: `/v2/${repo}/blobs/uploads/${id}?digest=${digestOf("x")}`, options: { body: "x" }, ...upload404 }))));
  });

  it("odd query parameters: n, digest-algorithm and from refused with their codes, last and artifactType taken as given", async () => {
    const ns = ["%FF", "-1", "1e3", "0x10", "%201", "1.0", "%00", "1%2F..", "NaN"];
    await refuseAll([
      ...ns.flatMap((n) => [`/v2/${repo}/tags/list?n=${n}`, `/v2/_catalog?n=${n}`].map((path) => ({ method: "GET", path, ...pagination400 }))),
      ...["..%2Fsha256", "%FF", "SHA256", "sha1"].map((alg) => ({ method: "POST", path: `/v2/${repo}/blobs/uploads/?digest-algorithm=${alg}`, ...digest400 })),
      ...["..%2F..%2Fx", "%C0%AE", "a%00", "%2Fabs"].map((from) => ({ method: "POST", path: `/v2/${repo}/blobs/uploads/?mount=${image.config.digest}&from=${from}`, ...name400 })),
    ]);
    for (const last of ["..%2F..%2F", "%FF", "%00", "a".repeat(8000)]) {
      for (const path of [`/v2/${repo}/tags/list?n=5&last=${last}`, `/v2/_catalog?n=5&last=${last}`]) {
        const reply = await request(server, "GET", path);
        assert.equal(reply.status, 200, `${path.slice(0, 80)}: ${reply.text()}`);
        const listed = Object.values(reply.json<Record<string, unknown>>()).find(Array.isArray) as string[];
        assert.ok(listed.every((entry) => entry === "latest" || entry === repo), JSON.stringify(listed));
      }
    }
    const referrers = await request(server, "GET", `/v2/${repo}/referrers/${image.digest}?artifactType=%FF%00`);
    assert.equal(referrers.status, 200);
    assert.deepEqual(referrers.json<{ manifests: unknown[] }>().manifests, []);
  });

  it("an n too large for any page is answered with the whole list or refused, never trusted as a number", async () => {
    for (const path of [`/v2/${repo}/tags/list?n=99999999999999999999999`, "/v2/_catalog?n=9007199254740993", `/v2/${repo}/tags/list?n=1${"0".repeat(400)}`]) {
      const reply = await request(server, "GET", path);
      if (reply.status !== 200) expectError(reply, 400, pagination400.codes, path);
      else {
        assert.equal(reply.header("link"), undefined, path);
        assert.ok(/"(latest|hostile\/base)"/.test(reply.text()), reply.text());
      }
    }
  });

  it("hostile manifests: duplicate keys, deep nesting, invalid UTF-8, huge arrays, too many tags", async () => {
    const text = image.body.toString("utf8");
    // A first-key parser would see a layer that was never pushed; the registry would check only the last.
    const hidden = text.replace('"layers":', `"layers":[{"mediaType":"${mt.ociLayer}","digest":"${digestOf("never pushed")}","size":12}],"layers":`);
    const deep = `${text.slice(0, -1)},"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    const notUtf8 = Buffer.concat([Buffer.from(`${text.slice(0, -1)},"annotations":{"a":"`), Buffer.from([0xc0, 0xae, 0xff]), Buffer.from('"}}')]);
    const zeros = `${text.slice(0, -1).replace(/"layers":\[[^\]]*\]/, `"layers":[${"0,".repeat(1_000_000)}0]`)}}`;
    const put = (tag: string, body: string | Buffer, path = `/v2/${repo}/manifests/${tag}`): Case => ({ method: "PUT", path, options: { body, headers: { "Content-Type": mt.ociManifest } }, status: 400, codes: ["MANIFEST_INVALID"] });
    const tooMany = Array.from({ length: 101 }, (_, i) => `tag=t${i}`).join("&");
    await refuseAll([
      put("hidden", hidden),
      put("deep", deep),
      put("utf8", notUtf8),
      put("zeros", zeros),
      { ...put("many", image.body, `/v2/${repo}/manifests/${image.digest}?${tooMany}`), status: 414, codes: ["UNSUPPORTED"] },
    ]);
  });

  it("a manifest naming 20,000 absent blobs is refused with a bounded answer", async () => {
    const layers = Array.from({ length: 20_000 }, (_, i) => ({ mediaType: mt.ociLayer, digest: digestOf(`absent ${i}`), size: 1 }));
    const body = JSON.stringify({ ...JSON.parse(image.body.toString("utf8")), layers });
    const reply = await request(server, "PUT", `/v2/${repo}/manifests/absent`, { body, headers: { "Content-Type": mt.ociManifest } });
    expectError(reply, 400, "MANIFEST_BLOB_UNKNOWN");
    const { errors } = reply.json<{ errors: { detail: { digest: string } }[] }>();
    assert.ok(errors.length >= 1 && errors.length <= 100, `${errors.length} errors`);
    assert.deepEqual(errors[0]?.detail, { digest: layers[0]!.digest });
    expectError(await request(server, "GET", `/v2/${repo}/manifests/absent`), 404, "MANIFEST_UNKNOWN");
  });

  it("requests HTTP itself refuses (URL over 16 KiB, raw bytes in the path) get a 4xx and the server goes on", async () => {
    const requests = [
      Buffer.from(`GET /v2/${repo}/tags/list?last=${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
      Buffer.concat([Buffer.from(`GET /v2/${repo}/manifests/`), Buffer.from([0xc0, 0xae, 0xff]), Buffer.from(" HTTP/1.1\r\nHost: x\r\n\r\n")]),
    ];
    for (const bytes of requests) {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(await exchange(server, bytes))?.[1];
      assert.ok(status === "400" || status === "414" || status === "431", `answered ${status}`);
    }
    assert.equal((await request(server, "GET", `/v2/${repo}/manifests/latest`)).status, 200);
  });

  describe("Content-Range and Content-Length that lie", () => {
    const status = async (location: string): Promise<string | undefined> => {
      const reply = await request(server, "GET", location);
      assert.equal(reply.status, 204, reply.text());
      return reply.header("range");
    };

    it("a Content-Range ending before it starts or past its own total is refused (416); the session is untouched", async () => {
      const location = await startUpload(server, repo);
      for (const range of ["9-0", "0-9/5", "0-9/9", "bytes=5-9/3"]) {
        expectError(await request(server, "PATCH", location, { body: "0123456789", headers: { "Content-Range": range } }), range416.status, range416.codes, range);
        assert.equal(await status(location), "0-0", range);
      }
      const fine = await request(server, "PATCH", location, { body: "0123456789", headers: { "Content-Range": "bytes 0-9/10" } });
      assert.equal(fine.status, 202, fine.text());
      assert.equal((await request(server, "DELETE", location)).status, 204);
    });

    it("a streamed body longer than its Content-Range is SIZE_INVALID; the status says what is stored and the upload completes from there", async () => {
      const data = randomBlob(300);
      const location = await startUpload(server, repo);
      const reply = await request(server, "PATCH", location, { body: Readable.from([data.subarray(0, 200)]), headers: { "Content-Range": "0-99" } });
      expectError(reply, 400, ["SIZE_INVALID", "BLOB_UPLOAD_INVALID"]);
      const stored = await settledSize(location);
      assert.ok(stored === 0 || stored === 200, `stored ${stored}`);
      const rest = await request(server, "PATCH", location, { body: data.subarray(stored), headers: { "Content-Range": `${stored}-${data.length - 1}` } });
      assert.equal(rest.status, 202, rest.text());
      assert.equal((await request(server, "PUT", withDigest(location, digestOf(data)))).status, 201);
      assert.ok((await request(server, "GET", `/v2/${repo}/blobs/${digestOf(data)}`)).body.equals(data));
    });

    it("a body that stops short of its Content-Length and half-closes publishes nothing; the session goes on", async () => {
      const data = randomBlob(1000);
      const location = await startUpload(server, repo);
      const path = new URL(location, "http://x").pathname;
      await exchange(server, Buffer.concat([Buffer.from(`PATCH ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${data.length}\r\n\r\n`), data.subarray(0, 400)]), true);
      const stored = await settledSize(location);
      assert.ok(stored <= 400, `stored ${stored}`);
      expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${digestOf(data)}`), 404, "BLOB_UNKNOWN");
      const rest = await request(server, "PUT", withDigest(location, digestOf(data)), { body: data.subarray(stored), headers: { "Content-Range": `${stored}-${data.length - 1}` } });
      assert.equal(rest.status, 201, rest.text());
    });

    it("bytes past a manifest's Content-Length are never part of it", async () => {
      const tag = "declared";
      const head = `PUT /v2/${repo}/manifests/${tag} HTTP/1.1\r\nHost: x\r\nContent-Type: ${mt.ociManifest}\r\nContent-Length: ${image.body.length}\r\n\r\n`;
      // The extra bytes are a malformed next request to HTTP, which may cut the connection before the PUT is answered.
      const answer = await exchange(server, Buffer.concat([Buffer.from(head), image.body, Buffer.from(', "layers": []}\r\n\r\n')]));
      assert.match(answer, /^HTTP\/1\.1 (201|400) /);
      await sleep(200);
      const stored = await request(server, "GET", `/v2/${repo}/manifests/${tag}`);
      if (stored.status !== 200) expectError(stored, 404, "MANIFEST_UNKNOWN");
      else assert.ok(stored.body.equals(image.body), stored.text());
    });
  });

  describe("a client that disconnects mid-body", () => {
    /** Sends the first `sent` bytes of `body`, waits, then drops the connection; the server must not have answered. */
    async function dropMidBody(method: string, path: string, body: Buffer, sent: number, headers: Record<string, string | number>): Promise<void> {
      const req = httpRequest({ host: server.host, port: server.port, method, path, headers });
      let answered: number | undefined;
      req.on("response", (res) => (answered = res.statusCode));
      req.on("error", () => {});
      req.write(body.subarray(0, sent));
      await sleep(200);
      req.destroy();
      await sleep(100);
      assert.equal(answered, undefined, `answered ${answered} before the body ended`);
    }

    it("a manifest PUT cut off leaves no tag and no manifest", async () => {
      const body = Buffer.from(JSON.stringify({ ...JSON.parse(image.body.toString("utf8")), annotations: { pad: "x".repeat(100_000) } }));
      await dropMidBody("PUT", `/v2/${repo}/manifests/cut`, body, 50_000, { "Content-Type": mt.ociManifest, "Content-Length": body.length });
      expectError(await request(server, "GET", `/v2/${repo}/manifests/cut`), 404, "MANIFEST_UNKNOWN");
      expectError(await request(server, "GET", `/v2/${repo}/manifests/${digestOf(body)}`), 404, "MANIFEST_UNKNOWN");
      assert.ok(!(await request(server, "GET", `/v2/${repo}/tags/list`)).json<{ tags: string[] }>().tags.includes("cut"));
    });

    it("a streamed (chunked) PATCH cut off publishes nothing and the upload resumes from its status", async () => {
      const data = randomBlob(600_000);
      const location = await startUpload(server, repo);
      await dropMidBody("PATCH", new URL(location, "http://x").pathname, data, 300_000, { "Transfer-Encoding": "chunked" });
      expectError(await request(server, "HEAD", `/v2/${repo}/blobs/${digestOf(data)}`), 404, "BLOB_UNKNOWN");
      const stored = await settledSize(location);
      assert.ok(stored <= 300_000, `stored ${stored}`);
      const rest = await request(server, "PUT", withDigest(location, digestOf(data)), { body: data.subarray(stored), headers: { "Content-Range": `${stored}-${data.length - 1}` } });
      assert.equal(rest.status, 201, rest.text());
    });

    it("leaves the store consistent", async () => {
      if (outer === undefined) {
        assert.deepEqual((await bucketLeftovers(server, "docker/registry/v2/repositories/hostile/base/_uploads/")).uploads, []);
        return;
      }
      await applied(server.running.registry.driver);
      assert.deepEqual(await storageProblems(join(outer, "store")), []);
    });
  });
});
