/**
 * The distribution-API requests the workloads make, written against the spec and nothing
 * lading-specific, so both registries get exactly the same requests.
 */
import { createHash } from "node:crypto";
import type { Dispatcher } from "undici";
import type { BlobSource } from "./data.js";
import { call, expectStatus, headerOf } from "./http.js";

export type PushMode = "monolithic" | "chunked" | "streamed";

export const ociManifest = "application/vnd.oci.image.manifest.v1+json";
export const ociConfig = "application/vnd.oci.image.config.v1+json";
export const ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
export const manifestAccept = [ociManifest, "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.v2+json"].join(", ");

export interface Target {
  base: string;
  agent: Dispatcher;
}

async function startUpload(t: Target, repo: string): Promise<URL> {
  const reply = expectStatus(await call({ method: "POST", url: `${t.base}/v2/${repo}/blobs/uploads/`, agent: t.agent, headers: { "Content-Length": 0 } }), `POST upload in ${repo}`, 202);
  return new URL(headerOf(reply, "location"), t.base);
}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set("digest", digest);
  return url;
}

/**
 * Pushes a blob. Monolithic needs the digest first (computed before the timed section by the
 * caller); chunked and streamed hash while sending, as a client that does not know it would.
 */
export async function pushBlob(t: Target, repo: string, blob: BlobSource, mode: PushMode, chunkBytes: number): Promise<string> {
  let location = await startUpload(t, repo);
  const what = `${mode} push of ${blob.size} bytes to ${repo}`;
  if (mode === "monolithic") {
    const digest = blob.digest();
    const headers = { "Content-Type": "application/octet-stream", "Content-Length": blob.size };
    expectStatus(await call({ method: "PUT", url: withDigest(location, digest), agent: t.agent, headers, body: blob.chunks() }), what, 201);
    return digest;
  }
  const hash = createHash("sha256");
  const hashing = function* (chunks: Iterable<Buffer>): Generator<Buffer> {
    for (const chunk of chunks) {
      hash.update(chunk);
      yield chunk;
    }
  };
  if (mode === "streamed") {
    const reply = await call({ method: "PATCH", url: location, agent: t.agent, headers: { "Content-Type": "application/octet-stream" }, body: hashing(blob.chunks()) });
    location = new URL(headerOf(expectStatus(reply, what, 202), "location"), t.base);
  } else {
    for (let start = 0; start < blob.size; start += chunkBytes) {
      const end = Math.min(start + chunkBytes, blob.size);
      const headers = { "Content-Type": "application/octet-stream", "Content-Length": end - start, "Content-Range": `${start}-${end - 1}` };
      const reply = await call({ method: "PATCH", url: location, agent: t.agent, headers, body: hashing(blob.chunks(start, end)) });
      location = new URL(headerOf(expectStatus(reply, `${what}, chunk at ${start}`, 202), "location"), t.base);
    }
  }
  const digest = `sha256:${hash.digest("hex")}`;
  expectStatus(await call({ method: "PUT", url: withDigest(location, digest), agent: t.agent, headers: { "Content-Length": 0 } }), what, 201);
  return digest;
}

/** Pushes a blob held in memory (small blobs, configs, layers of the merged images). */
export async function pushBytes(t: Target, repo: string, bytes: Buffer, digest: string): Promise<void> {
  const location = await startUpload(t, repo);
  const headers = { "Content-Type": "application/octet-stream", "Content-Length": bytes.length };
  expectStatus(await call({ method: "PUT", url: withDigest(location, digest), agent: t.agent, headers, body: bytes }), `push of ${digest} to ${repo}`, 201);
}

/** GETs a blob, hashing it as it arrives; throws unless the bytes match the digest and size. */
export async function pullBlob(t: Target, repo: string, digest: string, size: number): Promise<number> {
  const hash = createHash("sha256");
  const reply = await call({ method: "GET", url: `${t.base}/v2/${repo}/blobs/${digest}`, agent: t.agent, sink: (chunk) => hash.update(chunk) });
  expectStatus(reply, `GET blob ${digest} from ${repo}`, 200);
  const got = `sha256:${hash.digest("hex")}`;
  if (got !== digest || reply.received !== size) throw new Error(`GET blob ${digest} from ${repo}: got ${reply.received} bytes hashing to ${got}`);
  return reply.received;
}

/**
 * GETs a blob that the registry answers with a redirect (to its store's presigned URL), follows it
 * and verifies the bytes as `pullBlob` does; throws when the registry serves the blob itself.
 */
export async function pullRedirectedBlob(t: Target, repo: string, digest: string, size: number): Promise<number> {
  const what = `GET blob ${digest} from ${repo}`;
  const reply = expectStatus(await call({ method: "GET", url: `${t.base}/v2/${repo}/blobs/${digest}`, agent: t.agent }), `${what} (a redirect wanted)`, 302, 303, 307, 308);
  const location = new URL(headerOf(reply, "location"), t.base);
  const hash = createHash("sha256");
  const stored = expectStatus(await call({ method: "GET", url: location, agent: t.agent, sink: (chunk) => hash.update(chunk) }), `${what}: GET ${location.origin}${location.pathname}`, 200);
  const got = `sha256:${hash.digest("hex")}`;
  if (got !== digest || stored.received !== size) throw new Error(`${what}, redirected to ${location.origin}${location.pathname}: got ${stored.received} bytes hashing to ${got}`);
  return stored.received;
}

export async function headBlob(t: Target, repo: string, digest: string, size: number): Promise<void> {
  const reply = expectStatus(await call({ method: "HEAD", url: `${t.base}/v2/${repo}/blobs/${digest}`, agent: t.agent }), `HEAD blob ${digest}`, 200);
  if (Number(headerOf(reply, "content-length")) !== size) throw new Error(`HEAD blob ${digest}: Content-Length ${headerOf(reply, "content-length")}, wanted ${size}`);
}

export async function mountBlob(t: Target, repo: string, from: string, digest: string): Promise<void> {
  const url = `${t.base}/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
  expectStatus(await call({ method: "POST", url, agent: t.agent, headers: { "Content-Length": 0 } }), `mount ${digest} from ${from} into ${repo}`, 201);
}

export async function putManifest(t: Target, repo: string, reference: string, body: Buffer, mediaType = ociManifest): Promise<void> {
  const reply = await call({ method: "PUT", url: `${t.base}/v2/${repo}/manifests/${reference}`, agent: t.agent, headers: { "Content-Type": mediaType, "Content-Length": body.length }, body });
  expectStatus(reply, `PUT manifest ${repo}:${reference}`, 201);
}

/** GET (verified against `digest`) or HEAD of a manifest by tag or digest. */
export async function fetchManifest(t: Target, method: "GET" | "HEAD", repo: string, reference: string, digest: string): Promise<void> {
  const reply = await call({ method, url: `${t.base}/v2/${repo}/manifests/${reference}`, agent: t.agent, headers: { Accept: manifestAccept } });
  expectStatus(reply, `${method} manifest ${repo}:${reference}`, 200);
  const got = method === "GET" ? `sha256:${createHash("sha256").update(reply.body).digest("hex")}` : headerOf(reply, "docker-content-digest");
  if (got !== digest) throw new Error(`${method} manifest ${repo}:${reference}: ${got}, wanted ${digest}`);
}

/** An OCI image manifest over one config and some layers; `annotations` make otherwise equal manifests distinct. */
export function imageManifest(config: { digest: string; size: number }, layers: Array<{ digest: string; size: number }>, annotations?: Record<string, string>): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: ociManifest,
    config: { mediaType: ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: ociLayerGzip, digest: l.digest, size: l.size })),
    ...(annotations ? { annotations } : {}),
  };
  return Buffer.from(JSON.stringify(manifest));
}

/** GETs a whole list (`/tags/list` or `/_catalog`) in one request; returns the entries seen. */
export async function wholeList(t: Target, path: string, key: "tags" | "repositories"): Promise<number> {
  const reply = expectStatus(await call({ method: "GET", url: `${t.base}${path}`, agent: t.agent }), `GET ${path}`, 200);
  const items = (JSON.parse(reply.body.toString("utf8")) as Record<string, unknown>)[key];
  return Array.isArray(items) ? items.length : 0;
}

/**
 * Walks a paginated list (`/tags/list` or `/_catalog`) with `n`, following `Link` headers; returns
 * the requests made and the entries seen. A registry that ignores `n` answers in one page.
 */
export async function walkList(t: Target, path: string, n: number, key: "tags" | "repositories"): Promise<{ requests: number; entries: number }> {
  let url: string | undefined = `${t.base}${path}?n=${n}`;
  let requests = 0;
  let entries = 0;
  while (url !== undefined) {
    const reply = expectStatus(await call({ method: "GET", url, agent: t.agent }), `GET ${url}`, 200);
    requests++;
    const page = JSON.parse(reply.body.toString("utf8")) as Record<string, unknown>;
    const items = page[key];
    entries += Array.isArray(items) ? items.length : 0;
    const link = reply.headers.link;
    const next = typeof link === "string" ? /<([^>]+)>/.exec(link)?.[1] : undefined;
    url = next === undefined ? undefined : next.startsWith("/") ? `${t.base}${next}` : new URL(next, t.base).toString();
    if (requests > 100_000) throw new Error(`GET ${path}: more than 100,000 pages`);
  }
  return { requests, entries };
}
