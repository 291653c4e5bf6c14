import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { request as httpRequest } from "node:http";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { digestOf, expectError, pathOf, request, startTestServer, startUpload, type TestServer } from "../api/support.js";

/*
 * lading.limits: a request rate per client, uploads at once, header and body timeouts; and
 * /healthz, which says when the store cannot be written. No timing is asserted: a timeout test
 * waits for the server to act, and fails only if it never does (within the test's own timeout).
 */

async function withServer(limits: Record<string, unknown>, body: (server: TestServer) => Promise<void>): Promise<void> {
  const overrides = Object.fromEntries(Object.entries(limits).map(([key, value]) => [`lading.limits.${key}`, value]));
  const server = await startTestServer(overrides);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** What `attempt` answers once `done` says so (tried every 50 ms, for at most 5 s). */
async function eventually<T>(attempt: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let tries = 0; ; tries++) {
    const value = await attempt();
    if (done(value) || tries >= 100) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A raw connection: what it was sent back, and when it was closed. */
function rawConnection(server: TestServer): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(server.port, server.host);
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { socket, received: () => received, closed };
}

describe("limits", () => {
  it("refuses a client over its request rate with 429 TOOMANYREQUESTS and Retry-After, and never /healthz", async () => {
    await withServer({ rate: 1, burst: 5 }, async (server) => {
      for (let i = 0; i < 5; i++) assert.equal((await request(server, "GET", "/v2/")).status, 200, `request ${i} of the burst`);
      const refused = await request(server, "GET", "/v2/");
      expectError(refused, 429, "TOOMANYREQUESTS");
      assert.ok(Number(refused.header("retry-after")) >= 1, `Retry-After: ${refused.header("retry-after")}`);
      for (let i = 0; i < 10; i++) assert.equal((await request(server, "GET", "/healthz")).status, 200);
    });
  });

  it("takes no more uploads at once than lading.limits.uploads: the next one is told to retry", async () => {
    await withServer({ uploads: 1 }, async (server) => {
      const first = await startUpload(server, "limits/up");
      // A PATCH whose body is half sent holds the one slot.
      const held = new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: server.host, port: server.port, method: "PATCH", path: pathOf(first), headers: { "Content-Length": 10, "Content-Type": "application/octet-stream" } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.write(Buffer.alloc(5));
        setTimeout(() => req.end(Buffer.alloc(5)), 1500).unref();
      });
      // Wait for the server to be inside the first PATCH.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const second = await startUpload(server, "limits/up");
      const refused = await request(server, "PATCH", second, { body: Buffer.alloc(4), headers: { "Content-Type": "application/octet-stream" } });
      expectError(refused, 429, "TOOMANYREQUESTS");
      assert.equal(refused.header("retry-after"), "1");
      assert.equal(await held, 202);
      const retried = await request(server, "PATCH", second, { body: Buffer.alloc(4), headers: { "Content-Type": "application/octet-stream" } });
      assert.equal(retried.status, 202, retried.text());
    });
  });

  it("refuses a blob over lading.limits.maxblobsize, however it is uploaded, and keeps nothing of it", async () => {
    await withServer({ maxblobsize: "100KiB" }, async (server) => {
      const big = Buffer.alloc(100 * 1024 + 1, 7);
      const small = Buffer.alloc(100, 7);
      // Monolithic, announced: refused before the bytes.
      expectError(await request(server, "POST", `/v2/limits/big/blobs/uploads/?digest=${digestOf(big)}`, { body: big }), 413, "SIZE_INVALID");
      assert.equal((await request(server, "POST", `/v2/limits/big/blobs/uploads/?digest=${digestOf(small)}`, { body: small })).status, 201);
      // Chunked: the chunk that would cross the limit is refused, and the session is gone.
      const chunked = await startUpload(server, "limits/big");
      const first = await request(server, "PATCH", chunked, { body: big.subarray(0, 60 * 1024), headers: { "Content-Range": `0-${60 * 1024 - 1}` } });
      assert.equal(first.status, 202, first.text());
      const second = await request(server, "PATCH", first.header("location")!, { body: big.subarray(60 * 1024), headers: { "Content-Range": `${60 * 1024}-${big.length - 1}` } });
      expectError(second, 413, "SIZE_INVALID");
      expectError(await request(server, "GET", chunked), 404, "BLOB_UPLOAD_UNKNOWN");
      // Streamed without a length: cut off once past the limit, and the session is gone.
      const streamed = await startUpload(server, "limits/big");
      const cut = await new Promise<string>((resolve) => {
        const req = httpRequest({ host: server.host, port: server.port, method: "PATCH", path: pathOf(streamed), headers: { "Transfer-Encoding": "chunked", "Content-Type": "application/octet-stream" } }, (res) => {
          res.resume();
          resolve(`answered ${res.statusCode}`);
        });
        req.on("error", (err: NodeJS.ErrnoException) => resolve(`cut off: ${err.code}`));
        for (let i = 0; i < 40; i++) req.write(Buffer.alloc(4096, 7));
        req.end();
      });
      assert.ok(cut.startsWith("cut off") || cut === "answered 413", cut);
      // The client may see the cut before the server has removed the session.
      expectError(await eventually(() => request(server, "GET", streamed), (r) => r.status !== 204), 404, "BLOB_UPLOAD_UNKNOWN");
      assert.equal((await request(server, "HEAD", `/v2/limits/big/blobs/${digestOf(big)}`)).status, 404);
    });
  });

  it("refuses a client more open uploads than lading.limits.openuploads, until it finishes or cancels one", async () => {
    await withServer({ openuploads: 3 }, async (server) => {
      const open = [await startUpload(server, "limits/open"), await startUpload(server, "limits/open"), await startUpload(server, "limits/open")];
      const refused = await request(server, "POST", "/v2/limits/open/blobs/uploads/");
      expectError(refused, 429, "TOOMANYREQUESTS");
      assert.ok(Number(refused.header("retry-after")) > 0);
      assert.equal((await request(server, "DELETE", open[0]!)).status, 204);
      const data = Buffer.from("done");
      assert.equal((await request(server, "PUT", `${pathOf(open[1]!)}?digest=${digestOf(data)}`, { body: data })).status, 201);
      await startUpload(server, "limits/open");
      await startUpload(server, "limits/open");
      expectError(await request(server, "POST", "/v2/limits/open/blobs/uploads/"), 429, "TOOMANYREQUESTS");
      // Monolithic uploads and mounts hold no session open.
      assert.equal((await request(server, "POST", `/v2/limits/open/blobs/uploads/?digest=${digestOf(data)}`, { body: data })).status, 201);
    });
  });

  it("closes a connection whose headers never end (slowloris) after lading.limits.headertimeout", { timeout: 20_000 }, async () => {
    await withServer({ headertimeout: "1s" }, async (server) => {
      const { socket, received, closed } = rawConnection(server);
      socket.write("GET /v2/ HTTP/1.1\r\nHost: x\r\n");
      const drip = setInterval(() => socket.write("X-Drip: 1\r\n"), 200);
      await closed;
      clearInterval(drip);
      assert.match(received(), /^HTTP\/1\.1 408 /);
      assert.match(received(), /\r\n\r\n\{"errors":\[\{"code":"UNSUPPORTED","message":"the request's headers did not arrive in time/);
      // Others are served meanwhile and after.
      assert.equal((await request(server, "GET", "/v2/")).status, 200);
    });
  });

  it("answers headers larger than Node takes, and bytes that are not HTTP, in the error envelope", async () => {
    await withServer({}, async (server) => {
      for (const [request, status] of [[`GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431], ["NOT HTTP AT ALL\r\n\r\n", 400]] as const) {
        const { socket, received, closed } = rawConnection(server);
        socket.write(request);
        await closed;
        assert.match(received(), new RegExp(`^HTTP/1\\.1 ${status} `));
        const body = JSON.parse(received().slice(received().indexOf("\r\n\r\n") + 4)) as { errors: Array<{ code: string }> };
        assert.equal(body.errors[0]?.code, "UNSUPPORTED");
      }
    });
  });

  it("drops a request body that stops coming after lading.limits.bodytimeout; the upload resumes from what arrived", { timeout: 20_000 }, async () => {
    await withServer({ bodytimeout: "1s" }, async (server) => {
      const location = await startUpload(server, "limits/slow");
      const { socket, closed } = rawConnection(server);
      socket.write(`PATCH ${pathOf(location)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n`);
      socket.write(Buffer.alloc(100, 1));
      await closed;
      const status = await request(server, "GET", location);
      assert.equal(status.status, 204);
      const received = Number(/^0-(\d+)$/.exec(status.header("range") ?? "")?.[1] ?? -1) + 1;
      assert.ok(received >= 0 && received <= 100, `the upload holds ${received} bytes`);
      const rest = Buffer.alloc(1000 - received, 1);
      const put = () => request(server, "PUT", `${pathOf(status.header("location") ?? location)}${location.includes("?") ? "&" : "?"}digest=${digestOf(Buffer.alloc(1000, 1))}`, { body: rest });
      // The client may see the connection closed before the server has let go of the upload: it is then told so, and retries.
      const done = await eventually(put, (r) => !r.text().includes("another request is writing"));
      assert.equal(done.status, 201, done.text());
    });
  });

  it("reads sizes with units and refuses what is not one, naming the key", async () => {
    assert.equal((await loadConfig({ overrides: { "lading.limits.maxblobsize": "2GiB" } })).lading.limits.maxblobsize, 2 * 1024 ** 3);
    assert.equal((await loadConfig({ overrides: { "lading.limits.maxblobsize": "1.5 KB" } })).lading.limits.maxblobsize, 1500);
    await assert.rejects(loadConfig({ overrides: { "lading.limits.maxblobsize": "lots" } }), /lading\.limits\.maxblobsize.*not a size: "lots"/);
    await assert.rejects(loadConfig({ overrides: { "lading.limits.headertimeout": "10ms" } }), /lading\.limits\.headertimeout.*at least 1s/);
  });

  it("reports a store it can read and write as healthy, and a read-only one as such", async () => {
    await withServer({}, async (server) => {
      const reply = await request(server, "GET", "/healthz");
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json(), { status: "ok" });
    });
    const readOnly = await startTestServer({ "storage.maintenance.readonly.enabled": true });
    try {
      assert.deepEqual((await request(readOnly, "GET", "/healthz")).json(), { status: "ok", readonly: true });
    } finally {
      await readOnly.close();
    }
  });
});
