import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request, type IncomingMessage } from "node:http";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { ladingMain, runLading } from "../helpers/lading-cli.js";

const main = ladingMain;

const run = runLading;

/** Starts `lading serve` on port 0 and resolves with its URL once it logs that it listens. */
function serve(args: string[]): Promise<{ child: ChildProcess; url: string; lines: string[] }> {
  const child = spawn(process.execPath, [main, "serve", "--listen", "127.0.0.1:0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === "listening" && entry.url) resolve({ child, url: entry.url, lines });
    });
    child.once("exit", (code) => reject(new Error(`lading serve exited with ${code}`)));
  });
}

describe("lading serve", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "lading-serve-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("lists every flag in --help", async () => {
    const { code, stdout } = await run(["serve", "--help"]);
    assert.equal(code, 0);
    for (const flag of ["--listen", "--storage", "--config", "--log-level", "--read-only", "--no-delete", "--sparse"]) assert.ok(stdout.includes(flag), flag);
  });

  it("exits 2 with one line naming the key of a bad config", async () => {
    const path = join(dir, "bad.yml");
    await writeFile(path, "http:\n  adress: 127.0.0.1:5000\n");
    const { code, stderr } = await run(["serve", "--config", path]);
    assert.equal(code, 2);
    assert.match(stderr, /unknown key http\.adress/);
    assert.equal(stderr.trim().split("\n").length, 1);
  });

  it("serves HTTPS with http.tls and adds http.headers to every response", async () => {
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"], { encoding: "utf8" });
    assert.equal(made.status, 0, made.stderr);
    const config = join(dir, "tls.yml");
    await writeFile(config, `http:\n  tls:\n    certificate: ${cert}\n    key: ${key}\n  headers:\n    X-Content-Type-Options: [nosniff]\nstorage:\n  inmemory: {}\n`);
    const { child, url } = await serve(["--config", config]);
    try {
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        httpsGet(`${url}/v2/`, { rejectUnauthorized: false }, resolve).on("error", reject);
      });
      res.resume();
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["x-content-type-options"], "nosniff");
      assert.equal(res.headers["docker-distribution-api-version"], "registry/2.0");
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("serves /v2/, /healthz and /metrics, logs one JSON line per request, and drains on SIGTERM", async () => {
    const { child, url, lines } = await serve(["--storage", join(dir, "data")]);
    try {
      const base = await fetch(`${url}/v2/`);
      assert.equal(base.status, 200);
      assert.equal(base.headers.get("docker-distribution-api-version"), "registry/2.0");
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /lading_http_requests_total\{route="base",method="GET",status="200"\} 1/);
      assert.match(metrics, /lading_uploads_in_flight 0/);

      // An upload in flight when SIGTERM arrives still completes.
      const post = await fetch(`${url}/v2/drain/test/blobs/uploads/`, { method: "POST" });
      const location = post.headers.get("location")!;
      const finished = new Promise<number>((resolve, reject) => {
        const req = request(new URL(location, url), { method: "PATCH", headers: { "Content-Type": "application/octet-stream" } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.write(Buffer.alloc(1024, 1));
        setTimeout(() => {
          child.kill("SIGTERM");
          setTimeout(() => req.end(Buffer.alloc(1024, 2)), 200);
        }, 200);
      });
      assert.equal(await finished, 202);
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      assert.equal(code, 0);
      const requests = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "request");
      const patch = requests.find((l) => l.method === "PATCH");
      assert.ok(patch, "the PATCH is logged");
      for (const field of ["req_id", "method", "path", "status", "bytes_in", "bytes_out", "duration_ms"]) assert.ok(field in patch, field);
      assert.equal(patch.bytes_in, 2048);
      assert.equal(patch.status, 202);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("--sparse accepts a manifest naming a layer the repository lacks, which is refused without it", async () => {
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const digestOf = (b: Buffer | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf("never pushed"), size: 12 }],
    });
    for (const [flags, status] of [[[], 400], [["--sparse"], 201]] as const) {
      const { child, url } = await serve(["--storage", join(dir, `sparse-${status}`), ...flags]);
      try {
        const pushed = await fetch(`${url}/v2/sparse/test/blobs/uploads/?digest=${digestOf(config)}`, { method: "POST", body: config });
        assert.equal(pushed.status, 201);
        const put = await fetch(`${url}/v2/sparse/test/manifests/latest`, {
          method: "PUT",
          body: manifest,
          headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" },
        });
        assert.equal(put.status, status, `serve ${flags.join(" ")}`);
      } finally {
        child.kill("SIGTERM");
        await new Promise((resolve) => child.once("exit", resolve));
      }
    }
  });
});
