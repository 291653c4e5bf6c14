import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { loadConfig } from "../../src/config/load.js";
import { startServer, type RunningServer } from "../../src/server/app.js";

/*
 * Shared by the API tests: a real server on 127.0.0.1:0 over a fresh storage directory, and raw
 * HTTP through node:http so that paths, headers and bodies go out exactly as written (fetch would
 * normalise `..` and refuse some headers). Every reply is checked for the two invariants that hold
 * for every response: the API version header, and never a 5xx.
 */

export const mt = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export interface TestServer {
  url: string;
  host: string;
  port: number;
  /** The storage root directory (removed by close unless kept). */
  root: string;
  running: RunningServer;
  /** Sent with every request through this handle (e.g. credentials: `as(server, user)`). */
  headers?: Record<string, string>;
  close(): Promise<void>;
}

/** Starts lading on a random port; `overrides` are dotted config keys; `root` reuses a storage directory. */
export async function startTestServer(overrides: Record<string, unknown> = {}, root?: string): Promise<TestServer> {
  const dir = root ?? (await mkdtemp(join(tmpdir(), "lading-api-")));
  const config = await loadConfig({
    overrides: {
      "http.addr": "127.0.0.1:0",
      "storage.filesystem.rootdirectory": dir,
      "log.level": "silent",
      "http.draintimeout": "2s",
      ...overrides,
    },
  });
  const running = await startServer(config);
  return {
    url: running.url,
    host: "127.0.0.1",
    port: running.port,
    root: dir,
    running,
    close: async () => {
      await running.close();
      if (root === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text(): string;
  json<T = Record<string, unknown>>(): T;
  /** A single header value (first of several). */
  header(name: string): string | undefined;
}

export interface RequestOptions {
  headers?: Record<string, string | number | string[]>;
  /** A Buffer/string goes with Content-Length unless `chunked`; a stream always goes chunked. */
  body?: Uint8Array | string | Readable;
  chunked?: boolean;
}

const agent = new Agent({ keepAlive: false });

/** Path and query of a Location header or URL (absolute or relative). */
export function pathOf(location: string): string {
  const url = new URL(location, "http://placeholder");
  return url.pathname + url.search;
}

/** One HTTP request, raw. `path` may be an absolute URL (a Location), whose path is used. */
export function request(server: TestServer, method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const target = /^https?:\/\//.test(path) ? pathOf(path) : path;
  const headers: Record<string, string | number | string[]> = { ...server.headers, ...options.headers };
  const has = (name: string) => Object.keys(headers).some((k) => k.toLowerCase() === name);
  const body = typeof options.body === "string" ? Buffer.from(options.body) : options.body;
  if (body instanceof Uint8Array && !options.chunked && !has("content-length")) headers["Content-Length"] = body.length;
  if (body === undefined && method !== "GET" && method !== "HEAD" && !has("content-length")) headers["Content-Length"] = 0;
  return new Promise<Reply>((resolve, reject) => {
    const req = httpRequest({ host: server.host, port: server.port, method, path: target, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const reply = makeReply(res.statusCode ?? 0, res.headers, Buffer.concat(chunks));
        const what = `${method} ${target} -> ${reply.status} ${reply.text().slice(0, 300)}`;
        assert.equal(reply.header("docker-distribution-api-version"), "registry/2.0", `API version header missing: ${what}`);
        assert.ok(reply.status < 500, `server error: ${what}`);
        resolve(reply);
      });
    });
    req.on("error", reject);
    if (body === undefined) req.end();
    else if (body instanceof Uint8Array) req.end(body);
    else body.pipe(req);
  });
}

function makeReply(status: number, headers: IncomingHttpHeaders, body: Buffer): Reply {
  return {
    status,
    headers,
    body,
    text: () => body.toString("utf8"),
    json: <T>() => JSON.parse(body.toString("utf8")) as T,
    header: (name: string) => {
      const value = headers[name.toLowerCase()];
      return Array.isArray(value) ? value[0] : value;
    },
  };
}

interface ErrorEnvelope {
  errors: { code: string; message?: string; detail?: unknown }[];
}

/** Asserts an OCI error response: status, JSON envelope, and (for non-HEAD) the first error's code. */
export function expectError(reply: Reply, status: number, code: string | string[], context = ""): ErrorEnvelope["errors"][number] | undefined {
  const codes = Array.isArray(code) ? code : [code];
  assert.equal(reply.status, status, `${context} expected ${status} ${codes.join("|")}, got ${reply.status} ${reply.text().slice(0, 300)}`);
  if (reply.body.length === 0) return undefined; // HEAD
  assert.match(reply.header("content-type") ?? "", /^application\/json/, `${context} error body is not JSON`);
  const envelope = reply.json<ErrorEnvelope>();
  assert.ok(Array.isArray(envelope.errors) && envelope.errors.length > 0, `${context} no errors[] in ${reply.text()}`);
  const first = envelope.errors[0]!;
  assert.ok(codes.includes(first.code), `${context} expected code ${codes.join("|")}, got ${first.code}: ${first.message ?? ""}`);
  return first;
}

export function digestOf(data: Uint8Array | string, algorithm: "sha256" | "sha512" = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

export function randomBlob(size: number): Buffer {
  return randomBytes(size);
}

/** POST /blobs/uploads/ → 202; returns the Location. */
export async function startUpload(server: TestServer, repo: string, query = ""): Promise<string> {
  const reply = await request(server, "POST", `/v2/${repo}/blobs/uploads/${query}`);
  assert.equal(reply.status, 202, reply.text());
  const location = reply.header("location");
  assert.ok(location, "POST upload without Location");
  return location;
}

/** Appends `?digest=` (or `&digest=`) to an upload Location, keeping its own query. */
export function withDigest(location: string, digest: string): string {
  const url = new URL(location, "http://placeholder");
  url.searchParams.set("digest", digest);
  return url.pathname + url.search;
}

/** Pushes a blob monolithically (POST ?digest=) and returns its digest. */
export async function pushBlob(server: TestServer, repo: string, data: Uint8Array | string, algorithm: "sha256" | "sha512" = "sha256"): Promise<string> {
  const digest = digestOf(data, algorithm);
  const reply = await request(server, "POST", `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    body: typeof data === "string" ? Buffer.from(data) : data,
    headers: { "Content-Type": "application/octet-stream" },
  });
  assert.equal(reply.status, 201, `pushing blob to ${repo}: ${reply.text()}`);
  return digest;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  [field: string]: unknown;
}

export function descriptor(mediaType: string, data: Uint8Array | string, extra: Record<string, unknown> = {}, algorithm: "sha256" | "sha512" = "sha256"): Descriptor {
  return { mediaType, digest: digestOf(data, algorithm), size: Buffer.byteLength(data), ...extra };
}

export interface PushedManifest {
  digest: string;
  body: Buffer;
  reply: Reply;
}

/** PUTs manifest bytes (an object is serialised) with `mediaType` as Content-Type; asserts 201. */
export async function pushManifest(server: TestServer, repo: string, reference: string, manifest: unknown, mediaType: string): Promise<PushedManifest> {
  const body = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
  const algorithm = reference.startsWith("sha512:") ? "sha512" : "sha256";
  const reply = await request(server, "PUT", `/v2/${repo}/manifests/${reference}`, { body, headers: { "Content-Type": mediaType } });
  assert.equal(reply.status, 201, `pushing manifest ${repo}:${reference}: ${reply.text()}`);
  return { digest: digestOf(body, algorithm), body, reply };
}

export interface PushedImage extends PushedManifest {
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageOptions {
  layers?: number;
  /** Extra top-level manifest fields (annotations, subject, artifactType, ...). */
  extra?: Record<string, unknown>;
  configMediaType?: string;
  configBytes?: Buffer;
  layerMediaType?: string;
  docker?: boolean;
}

/** Pushes the blobs of a small random image and its manifest under `reference`. */
export async function pushImage(server: TestServer, repo: string, reference: string, options: ImageOptions = {}): Promise<PushedImage> {
  const docker = options.docker ?? false;
  const configBytes = options.configBytes ?? Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, nonce: randomBytes(8).toString("hex") }));
  const config = descriptor(options.configMediaType ?? (docker ? mt.dockerConfig : mt.ociConfig), configBytes);
  await pushBlob(server, repo, configBytes);
  const layers: Descriptor[] = [];
  for (let i = 0; i < (options.layers ?? 1); i++) {
    const data = randomBlob(512 + i);
    await pushBlob(server, repo, data);
    layers.push(descriptor(options.layerMediaType ?? (docker ? mt.dockerLayer : mt.ociLayer), data));
  }
  const mediaType = docker ? mt.dockerManifest : mt.ociManifest;
  const manifest = { schemaVersion: 2, mediaType, config, layers, ...options.extra };
  const pushed = await pushManifest(server, repo, reference, manifest, mediaType);
  return { ...pushed, config, layers };
}

/** The values of a header that may be sent several times or comma-joined (OCI-Tag). */
export function listHeader(reply: Reply, name: string): string[] {
  const value = reply.headers[name.toLowerCase()];
  const joined = Array.isArray(value) ? value.join(",") : (value ?? "");
  return joined
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
