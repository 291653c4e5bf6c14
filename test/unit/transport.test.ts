import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { mountBlob, openBlob } from "../../src/client/blobs.js";
import { DigestMismatchError, ResponseError } from "../../src/client/errors.js";
import { fetchManifest } from "../../src/client/manifests.js";
import { Transport, type TransportOptions } from "../../src/client/transport.js";
import { bufferSource, uploadBlob } from "../../src/client/upload.js";

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A scriptable registry on 127.0.0.1:0: each test sets the handler and reads the request log. */
let handler: Handler = (_q, res) => res.end();
const log: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    log.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    handler(req, res, body);
  });
});
let host = "";
const fast: TransportOptions = { retry: { retries: 3, baseDelayMs: 1, maxDelayMs: 5 } };
const sha = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

function reset(h: Handler): void {
  log.length = 0;
  handler = h;
}

describe("transport", () => {
  it("speaks plain HTTP to loopback and retries 5xx and 429 with backoff", async () => {
    let n = 0;
    reset((_q, res) => {
      n++;
      if (n === 1) res.writeHead(503).end();
      else if (n === 2) res.writeHead(429, { "retry-after": "0" }).end();
      else res.writeHead(200).end("{}");
    });
    await new Transport(host, fast).ping();
    assert.equal(n, 3);
  });
  it("retries a broken connection", async () => {
    let n = 0;
    reset((req, res) => (++n === 1 ? req.socket.destroy() : res.writeHead(200).end()));
    await new Transport(host, fast).ping();
    assert.equal(n, 2);
  });
  it("does not retry a 404, and parses its error envelope", async () => {
    reset((_q, res) => res.writeHead(404, { "content-type": "application/json" }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'));
    await assert.rejects(fetchManifest(new Transport(host, fast), "a", "latest"), (err: ResponseError) => err.status === 404 && err.hasCode("MANIFEST_UNKNOWN") && !err.retryable);
    assert.equal(log.length, 1);
  });
  it("answers a Bearer challenge with a token for the request's scope, once per scope", async () => {
    reset((req, res) => {
      if (req.url!.startsWith("/token")) {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: "tok", expires_in: 300 }));
      } else if (req.headers.authorization !== "Bearer tok") {
        res.writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/token",service="reg",scope="repository:a:pull"` }).end();
      } else res.writeHead(201).end();
    });
    const t = new Transport(host, { ...fast, credentials: { username: "u", password: "p" } });
    assert.deepEqual(await mountBlob(t, "target", sha("x"), "base"), { mounted: true });
    const token = new URL(log.find((l) => l.url.startsWith("/token"))!.url, "http://x");
    assert.deepEqual(token.searchParams.getAll("scope"), ["repository:base:pull", "repository:target:pull,push"]);
    assert.equal(token.searchParams.get("service"), "reg");
    assert.equal(log.find((l) => l.url.startsWith("/token"))!.headers.authorization, `Basic ${Buffer.from("u:p").toString("base64")}`);
    await mountBlob(t, "target", sha("y"), "base");
    assert.equal(log.filter((l) => l.url.startsWith("/token")).length, 1, "the token is reused for the same scope");
  });
  it("asks once for a token that requests needing one scope want at once", async () => {
    reset((req, res) => {
      if (req.url!.startsWith("/token")) setTimeout(() => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: "tok", expires_in: 300 })), 20);
      else if (req.headers.authorization !== "Bearer tok") res.writeHead(401, { "www-authenticate": `Bearer realm="http://${host}/token",service="reg"` }).end();
      else res.writeHead(201).end();
    });
    const t = new Transport(host, { ...fast, credentials: { username: "u", password: "p" } });
    await Promise.all(["a", "b", "c", "d"].map((x) => mountBlob(t, "target", sha(x), "base")));
    assert.equal(log.filter((l) => l.url.startsWith("/token")).length, 1);
  });
  it("answers a Basic challenge and gives up when credentials are refused", async () => {
    reset((req, res) => res.writeHead(req.headers.authorization ? 403 : 401, { "www-authenticate": 'Basic realm="r"' }).end());
    await assert.rejects(new Transport(host, { ...fast, credentials: { username: "u", password: "bad" } }).ping(), (err: ResponseError) => err.status === 403);
    assert.equal(log.length, 2);
  });
});

describe("blobs", () => {
  const data = Buffer.from("layer bytes ".repeat(500));
  it("verifies while streaming and resumes a broken download with Range", async () => {
    let n = 0;
    reset((req, res) => {
      n++;
      if (n === 1) {
        res.writeHead(200, { "content-length": String(data.length) });
        res.write(data.subarray(0, 1000));
        setTimeout(() => req.socket.destroy(), 20);
      } else {
        const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? "")?.[1] ?? 0);
        res.writeHead(206, { "content-length": String(data.length - start) }).end(data.subarray(start));
      }
    });
    const chunks: Buffer[] = [];
    for await (const c of openBlob(new Transport(host, fast), "a", sha(data), data.length)) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), data);
    assert.equal(log[1]!.headers.range, "bytes=1000-");
  });
  it("fails a blob whose bytes do not match its digest", async () => {
    reset((_q, res) => res.writeHead(200).end(Buffer.from("tampered")));
    const read = async () => {
      for await (const _ of openBlob(new Transport(host, fast), "a", sha(data))) void _;
    };
    await assert.rejects(read(), DigestMismatchError);
  });
});

describe("uploads", () => {
  const data = Buffer.alloc(3000, 7);
  const digest = sha(data);
  const registry = (options: { minChunk?: number; failPatch?: number } = {}): Handler => {
    let received = Buffer.alloc(0);
    let patches = 0;
    return (req, res, body) => {
      const url = new URL(req.url!, "http://x");
      if (req.method === "POST") return res.writeHead(202, { location: "/v2/a/blobs/uploads/u1", ...(options.minChunk ? { "oci-chunk-min-length": String(options.minChunk) } : {}) }).end();
      if (req.method === "GET") return res.writeHead(204, { range: `0-${received.length - 1}`, location: "/v2/a/blobs/uploads/u1" }).end();
      if (req.method === "PATCH") {
        if (++patches === options.failPatch) {
          received = Buffer.concat([received, body]);
          return req.socket.destroy();
        }
        const start = Number((req.headers["content-range"] ?? "0-0").split("-")[0]);
        if (start !== received.length) return res.writeHead(416).end();
        received = Buffer.concat([received, body]);
        return res.writeHead(202, { location: "/v2/a/blobs/uploads/u1", range: `0-${received.length - 1}` }).end();
      }
      if (req.method === "PUT") {
        received = Buffer.concat([received, body]);
        return res.writeHead(sha(received) === url.searchParams.get("digest") ? 201 : 400).end();
      }
      res.writeHead(405).end();
    };
  };
  it("sends a small blob in one PUT", async () => {
    reset(registry());
    await uploadBlob(new Transport(host, fast), "a", bufferSource(data, digest));
    assert.deepEqual(log.map((l) => l.method), ["POST", "PUT"]);
  });
  it("uploads in chunks of the registry's OCI-Chunk-Min-Length", async () => {
    reset(registry({ minChunk: 1024 }));
    await uploadBlob(new Transport(host, fast), "a", bufferSource(data, digest));
    assert.deepEqual(log.filter((l) => l.method === "PATCH").map((l) => l.headers["content-range"]), ["0-1023", "1024-2047", "2048-2999"]);
    assert.equal(log.at(-1)!.method, "PUT");
  });
  it("resumes an interrupted chunked upload from the registry's Range", async () => {
    reset(registry({ minChunk: 1024, failPatch: 2 }));
    await uploadBlob(new Transport(host, fast), "a", bufferSource(data, digest));
    const methods = log.map((l) => `${l.method}${l.headers["content-range"] ? ` ${l.headers["content-range"]}` : ""}`);
    assert.deepEqual(methods, ["POST", "PATCH 0-1023", "PATCH 1024-2047", "GET", "PATCH 2048-2999", "PUT"]);
  });
});
