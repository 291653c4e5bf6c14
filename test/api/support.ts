import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { startServer, type RunningServer } from "../../src/server/app.js";
import { useCeph, type S3Server } from "../helpers/ceph.js";
import { ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { s3Client, uniqueBucketName, type S3Access } from "../helpers/s3.js";

/*
 * Shared by the API tests: a real server on 127.0.0.1:0 over a fresh storage directory, and raw
 * HTTP through node:http so that paths, headers and bodies go out exactly as written (fetch would
 * normalise `..` and refuse some headers). Every reply is checked for the two invariants that hold
 * for every response: the API version header, and never a 5xx.
 *
 * With E2E_API_STORAGE=s3 (scripts/test.sh's second pass over the storage-agnostic API test
 * files) every server stores in a fresh bucket of the run's S3 gateway instead (../helpers/ceph.ts;
 * a private one when the file runs alone): the same tests, through a replica on a shared store.
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

/** Names the store startTestServer gives each server: "s3" for a bucket, else a directory. */
export const API_STORAGE_VAR = "E2E_API_STORAGE";
export const apiStorage: "filesystem" | "s3" = process.env[API_STORAGE_VAR] === "s3" ? "s3" : "filesystem";

/** Parts a writer holds in memory, and the size above which a blob spans several: S3's minimum. */
const S3_CHUNK_SIZE = 5 * 1024 * 1024;

/**
 * The dotted config keys that put a server on `bucket` of `s3` (registry:2's storage.s3 keys), for
 * startTestServer's overrides. `rootdirectory` must match between servers meant to share a store.
 */
export function s3StorageOverrides(s3: S3Access, bucket: string, rootdirectory = ""): Record<string, unknown> {
  return {
    "storage.s3.regionendpoint": s3.endpoint,
    "storage.s3.region": s3.region,
    "storage.s3.bucket": bucket,
    "storage.s3.rootdirectory": rootdirectory,
    "storage.s3.accesskey": s3.accessKey,
    "storage.s3.secretkey": s3.secretKey,
    "storage.s3.chunksize": S3_CHUNK_SIZE,
  };
}

/*
 * In the S3 pass: the gateway, and every bucket made for this file that is not yet deleted. A
 * server given no `root` gets a bucket of its own, deleted when it closes; a bucket standing for a
 * directory the test gave is shared by the servers started on it and deleted when the file is
 * done. The hook is registered before useCeph's: buckets go before a private gateway stops.
 */
const s3Buckets = new Set<string>();
const bucketsByRoot = new Map<string, string>();
if (apiStorage === "s3") {
  after(async () => {
    for (const bucket of s3Buckets) await gateway?.deleteBucket(bucket);
  });
}
const gateway: S3Server | undefined = apiStorage === "s3" ? await useCeph() : undefined;

async function newBucket(s3: S3Server): Promise<string> {
  const bucket = uniqueBucketName("lading-api");
  await s3.createBucket(bucket);
  s3Buckets.add(bucket);
  return bucket;
}

async function removeBucket(s3: S3Server, bucket: string): Promise<void> {
  s3Buckets.delete(bucket);
  await s3.deleteBucket(bucket);
}

/** The bucket standing for the storage directory `root`, made on first use. */
async function bucketFor(s3: S3Server, root: string): Promise<string> {
  const known = bucketsByRoot.get(root);
  if (known !== undefined) return known;
  const bucket = await newBucket(s3);
  bucketsByRoot.set(root, bucket);
  return bucket;
}

export interface TestServer {
  url: string;
  host: string;
  port: number;
  /**
   * The storage root directory (removed by close unless kept); absent when the server stores in
   * a bucket (see storageRoot).
   */
  root?: string;
  /** The bucket holding the store, when it is on S3. */
  bucket?: string;
  running: RunningServer;
  /** Sent with every request through this handle (e.g. credentials: `as(server, user)`). */
  headers?: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Starts lading on a random port; `overrides` are dotted config keys; `root` reuses a storage
 * directory (in the S3 pass, the bucket standing for it). Overrides naming storage.s3 or
 * storage.inmemory choose that store instead (s3StorageOverrides).
 */
export async function startTestServer(overrides: Record<string, unknown> = {}, root?: string): Promise<TestServer> {
  const common = { "http.addr": "127.0.0.1:0", "log.level": "silent", "http.draintimeout": "2s" };
  if (Object.keys(overrides).some((key) => key.startsWith("storage.s3.") || key.startsWith("storage.inmemory"))) {
    const running = await startServer(await loadConfig({ overrides: { ...common, ...overrides } }));
    const bucket = overrides["storage.s3.bucket"];
    return served(running, typeof bucket === "string" ? { bucket } : {}, () => running.close());
  }
  if (gateway !== undefined) {
    const fresh = root === undefined;
    const bucket = fresh ? await newBucket(gateway) : await bucketFor(gateway, root);
    // Blobs come through lading, as these tests read them: redirects are e2e/replicas.test.ts's.
    const config = await loadConfig({ overrides: { ...common, ...s3StorageOverrides(gateway, bucket), "storage.redirect.disable": true, ...overrides } });
    const running = await startServer(config).catch(async (err: unknown) => {
      if (fresh) await removeBucket(gateway, bucket);
      throw err;
    });
    return served(running, { bucket }, async () => {
      await running.close();
      if (fresh) await removeBucket(gateway, bucket);
    });
  }
  const dir = root ?? (await mkdtemp(join(tmpdir(), "lading-api-")));
  const config = await loadConfig({ overrides: { ...common, "storage.filesystem.rootdirectory": dir, ...overrides } });
  const running = await startServer(config);
  return served(running, { root: dir }, async () => {
    await running.close();
    if (root === undefined) await rm(dir, { recursive: true, force: true });
  });
}

function served(running: RunningServer, store: { root?: string; bucket?: string }, close: () => Promise<void>): TestServer {
  return { url: running.url, host: "127.0.0.1", port: running.port, ...store, running, close };
}

/** The server's storage directory, for checks of the bare tree: only a filesystem store has one. */
export function storageRoot(server: TestServer): string {
  if (server.root === undefined) throw new Error(`the server at ${server.url} stores in bucket ${server.bucket ?? "?"}, not in a directory`);
  return server.root;
}

/**
 * In the S3 pass, the check of the bare store that storageProblems makes of a directory, reduced
 * to what S3 can leave half-done: the keys under `prefix` of the server's bucket, and every
 * multipart upload not completed or aborted.
 */
export async function bucketLeftovers(server: TestServer, prefix: string): Promise<{ keys: string[]; uploads: string[] }> {
  if (gateway === undefined || server.bucket === undefined) throw new Error(`the server at ${server.url} does not store in the S3 pass's gateway`);
  const client = s3Client(gateway);
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: prefix }));
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: server.bucket }));
    return { keys: (listed.Contents ?? []).map((o) => o.Key ?? "?"), uploads: (uploads.Uploads ?? []).map((u) => u.Key ?? "?") };
  } finally {
    client.destroy();
  }
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
  /** The test expects an answer of 500 or above (a mirror's upstream failing): it is not a fault of the server. */
  serverError?: boolean;
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
        // Rejected, not thrown: thrown in this handler it would escape the test's await (its finally never run, its servers left open).
        try {
          const reply = makeReply(res.statusCode ?? 0, res.headers, Buffer.concat(chunks));
          const what = `${method} ${target} -> ${reply.status} ${reply.text().slice(0, 300)}`;
          assert.equal(reply.header("docker-distribution-api-version"), "registry/2.0", `API version header missing: ${what}`);
          if (options.serverError !== true) assert.ok(reply.status < 500, `server error: ${what}`);
          resolve(reply);
        } catch (err) {
          reject(err as Error);
        }
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

/** Pushes a blob as docker and registry:2 do (POST, then PUT with the bytes and the digest); returns its digest. */
export async function pushBlobInTwo(server: TestServer, repo: string, data: Buffer): Promise<string> {
  const location = await startUpload(server, repo);
  const reply = await request(server, "PUT", withDigest(location, digestOf(data)), { body: data, headers: { "Content-Type": "application/octet-stream" } });
  assert.equal(reply.status, 201, `pushing blob to ${repo}: ${reply.text()}`);
  return digestOf(data);
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
