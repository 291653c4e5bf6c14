import assert from "node:assert/strict";
import { Agent, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { digestOf, expectError, mt, pushBlob, pushImage, randomBlob, request, startTestServer, startUpload, type PushedImage, type TestServer } from "./support.js";

/** Sends raw bytes on a fresh connection and returns what came back before the server closed or went quiet. */
function rawExchange(server: TestServer, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, server.host);
    let received = "";
    const done = () => {
      socket.destroy();
      resolve(received);
    };
    socket.setTimeout(1500, done);
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      if (/\r\n\r\n/.test(received)) setTimeout(done, 50);
    });
    socket.on("end", done);
    socket.on("error", (err) => (received === "" ? reject(err) : done()));
    socket.write(bytes, "latin1");
  });
}

describe("errors", () => {
  let server: TestServer;
  let image: PushedImage;
  const repo = "errors/test";
  before(async () => {
    server = await startTestServer();
    image = await pushImage(server, repo, "latest");
  });
  after(() => server.close());

  describe("NAME_INVALID for names outside the grammar", () => {
    const badNames = ["Upper", "a/../b", "..", "a//b", "a/b/", "a/./b", "-a", "a-", "a___b", "a/_b", ".a", "a".repeat(256), "a%2F..%2Fb", "%41bc", "a%00b", "%ZZ", "a%20b"];
    const endpoints = (name: string): [string, string][] => [
      ["GET", `/v2/${name}/tags/list`],
      ["GET", `/v2/${name}/manifests/latest`],
      ["PUT", `/v2/${name}/manifests/latest`],
      ["HEAD", `/v2/${name}/blobs/${digestOf("x")}`],
      ["POST", `/v2/${name}/blobs/uploads/`],
      ["GET", `/v2/${name}/referrers/${digestOf("x")}`],
    ];
    for (const name of badNames) {
      it(JSON.stringify(name.length > 40 ? `${name.slice(0, 10)}…(${name.length})` : name), async () => {
        for (const [method, path] of endpoints(name)) {
          const reply = await request(server, method, path, method === "PUT" ? { body: image.body, headers: { "Content-Type": mt.ociManifest } } : {});
          expectError(reply, 400, "NAME_INVALID", `${method} ${path}`);
        }
      });
    }

    it("accepts names at the edge of the grammar", async () => {
      for (const name of ["a", "a/b/c/d/e", "a.b-c_d__e", "a--b", "0/9", "a".repeat(200)]) {
        expectError(await request(server, "GET", `/v2/${name}/tags/list`), 404, "NAME_UNKNOWN", name);
      }
    });
  });

  it("routes repository names that contain the API's own words", async () => {
    for (const name of ["x/blobs", "x/blobs/uploads", "x/manifests", "x/tags", "x/tags/list", "x/referrers", "v2/v2"]) {
      const image = await pushImage(server, name, "latest");
      const manifest = await request(server, "GET", `/v2/${name}/manifests/latest`);
      assert.equal(manifest.status, 200, name);
      assert.ok(manifest.body.equals(image.body), name);
      assert.equal((await request(server, "GET", `/v2/${name}/blobs/${image.config.digest}`)).status, 200, name);
      assert.deepEqual((await request(server, "GET", `/v2/${name}/tags/list`)).json<{ tags: string[] }>().tags, ["latest"], name);
      assert.equal((await request(server, "GET", `/v2/${name}/referrers/${image.digest}`)).status, 200, name);
    }
  });

  it("a refused request body does not poison the keep-alive connection", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const send = (method: string, path: string, body?: Buffer) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest({ host: server.host, port: server.port, method, path, agent, headers: { "Content-Length": body?.length ?? 0 } }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          });
          req.on("error", reject);
          req.end(body);
        });
      const big = randomBlob(1 << 20);
      assert.equal(await send("PATCH", `/v2/${repo}/blobs/uploads/no-such-upload`, big), 404);
      assert.equal(await send("PUT", `/v2/${repo}/manifests/${digestOf("x")}`, big), 400);
      assert.equal(await send("POST", `/v2/UPPER/blobs/uploads/?digest=${digestOf(big)}`, big), 400);
      assert.equal(await send("GET", "/v2/"), 200);
      assert.equal(await send("HEAD", `/v2/${repo}/manifests/latest`), 200);
    } finally {
      agent.destroy();
    }
  });

  describe("405 UNSUPPORTED for methods an endpoint does not have", () => {
    const cases: [string, string][] = [
      ["POST", "/v2/"],
      ["DELETE", "/v2/"],
      ["POST", `/v2/${repo}/manifests/latest`],
      ["PATCH", `/v2/${repo}/manifests/latest`],
      ["PUT", `/v2/${repo}/tags/list`],
      ["DELETE", `/v2/${repo}/tags/list`],
      ["PUT", `/v2/${repo}/blobs/${digestOf("x")}`],
      ["POST", `/v2/${repo}/blobs/${digestOf("x")}`],
      ["PATCH", `/v2/${repo}/blobs/${digestOf("x")}`],
      ["POST", "/v2/_catalog"],
      ["DELETE", "/v2/_catalog"],
      ["PATCH", `/v2/${repo}/blobs/uploads/`],
      ["GET", `/v2/${repo}/blobs/uploads/`],
      ["POST", `/v2/${repo}/referrers/${digestOf("x")}`],
    ];
    for (const [method, path] of cases) {
      it(`${method} ${path.replace(/sha256:[0-9a-f]+/, "sha256:…")}`, async () => {
        const reply = await request(server, method, path);
        expectError(reply, 405, "UNSUPPORTED");
        assert.ok(reply.header("allow"), "405 without an Allow header");
      });
    }

    it("POST on an upload session URL", async () => {
      const location = await startUpload(server, repo);
      expectError(await request(server, "POST", location), 405, "UNSUPPORTED");
    });
  });

  describe("never a 500 for bad input", () => {
    // request() fails the test on any 5xx; these only check the answer is a client error where one is due.
    it("garbage Content-Range, Content-Type and query values on uploads", async () => {
      for (const range of ["bytes=abc", "5-2", "-", "0-", "0-99999999999999999999999", "\u00e4-\u00f6", "1-2-3", " ", "0-9/abc"]) {
        const location = await startUpload(server, repo);
        const reply = await request(server, "PATCH", location, { body: "0123456789", headers: { "Content-Range": range, "Content-Type": "garbage/\u00ff;;;=" } });
        assert.ok(reply.status >= 400 || reply.status === 202, `${range}: ${reply.status}`);
      }
      for (const query of ["?digest=%00", "?digest=%ZZ", "?digest=sha256:" + "a".repeat(5000), "?mount=&from=", "?mount=%00&from=%00", "?digest-algorithm=%FF", "?digest=a&digest=b"]) {
        const reply = await request(server, "POST", `/v2/${repo}/blobs/uploads/${query}`, { body: "x" });
        assert.ok(reply.status < 500, query);
      }
    });

    it("garbage in manifest PUTs", async () => {
      const deep = "[".repeat(100_000) + "]".repeat(100_000);
      const bodies = [deep, '{"__proto__":{"schemaVersion":2},"constructor":{"prototype":{}}}', "\ufeff" + image.body.toString(), "{".repeat(10) + "\u0000", "1e999", '{"schemaVersion":2,"mediaType":"' + mt.ociManifest + '","config":{"mediaType":"x","digest":"sha256:' + "0".repeat(64) + '","size":1e400},"layers":[]}'];
      for (const body of bodies) {
        for (const contentType of [mt.ociManifest, "", "\u00ff/\u00fe", "application/vnd.oci.image.manifest.v1+json; x=\"unterminated"]) {
          const reply = await request(server, "PUT", `/v2/${repo}/manifests/garbage`, { body, headers: { "Content-Type": contentType } });
          expectError(reply, 400, ["MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN"], `${body.slice(0, 20)} as ${contentType}`);
        }
      }
      for (const query of ["?tag=", "?tag=%00", "?tag=%ZZ", `?tag=${"t".repeat(200)}`]) {
        const reply = await request(server, "PUT", `/v2/${repo}/manifests/${image.digest}${query}`, { body: image.body, headers: { "Content-Type": mt.ociManifest } });
        assert.equal(reply.status, 400, `${query}: ${reply.text()}`);
      }
    });

    it("garbage headers and queries on reads", async () => {
      const digest = await pushBlob(server, repo, "some bytes");
      const headers = { Accept: "\u00ff,,;q=abc", Range: "bytes=0-1,", "If-None-Match": "\u00ff", "X-Forwarded-Host": "\u00ff bad host", "X-Forwarded-Proto": "gopher, ,", "Content-Type": "x" };
      for (const path of [`/v2/${repo}/blobs/${digest}`, `/v2/${repo}/manifests/latest`, `/v2/${repo}/tags/list?n=%ZZ&last=%FF`, `/v2/_catalog?last=%00&n=`, `/v2/${repo}/referrers/${image.digest}?artifactType=%ZZ`]) {
        const reply = await request(server, "GET", path, { headers });
        assert.ok(reply.status < 500, path);
      }
      const reply = await request(server, "POST", `/v2/${repo}/blobs/uploads/`, { headers: { "X-Forwarded-Host": "evil host", "X-Forwarded-Proto": "\u00ff" } });
      assert.equal(reply.status, 202);
      assert.ok(reply.header("location"));
    });

    it("garbage paths", async () => {
      for (const path of [`/v2/${repo}/manifests/%E2%9C%93`, `/v2/${repo}/manifests/%`, `/v2/${repo}/blobs/%ZZ`, `/v2/${repo}/blobs/uploads/%00`, "/v2/%", "/v2/_catalog/x", `/v2/${repo}/referrers/`, "/v2/" + "a/".repeat(500) + "tags/list", "//v2//"]) {
        const reply = await request(server, "GET", path);
        assert.ok(reply.status >= 400 && reply.status < 500, `${path}: ${reply.status}`);
      }
    });

    it("malformed HTTP is refused with a 4xx, not a 5xx or a hang", async () => {
      const requests = [
        `POST /v2/${repo}/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n`,
        `PATCH /v2/${repo}/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc`,
        `PATCH /v2/${repo}/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n`,
        `GET /v2/ HTTP/1.1\r\nHost: x\r\nBad Header Name: y\r\n\r\n`,
      ];
      for (const raw of requests) {
        const response = await rawExchange(server, raw);
        const status = /^HTTP\/1\.1 (\d{3})/.exec(response)?.[1];
        assert.ok(status !== undefined && status.startsWith("4"), `${JSON.stringify(raw.split("\r\n")[0])}: ${JSON.stringify(response.slice(0, 80))}`);
      }
    });
  });
});
