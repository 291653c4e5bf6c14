/**
 * Plain HTTP look-ups against a running registry (lading or docker-registry), for what the
 * clients do not show directly: the catalog, raw tag lists, the digest a server reports.
 */
import type { RunningRegistry } from "./registries.js";

/** Every manifest type, as clients ask for them. */
export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
].join(", ");

async function request(registry: RunningRegistry, method: string, path: string, init: RequestInit = {}): Promise<Response> {
  const url = `${registry.url}${path}`;
  try {
    return await fetch(url, { ...init, method, signal: AbortSignal.timeout(30_000) });
  } catch (cause) {
    throw registry.process.failure(`did not answer ${method} ${url}: ${String(cause)}`);
  }
}

async function json<T>(registry: RunningRegistry, path: string): Promise<T> {
  const res = await request(registry, "GET", path);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${registry.kind}: GET ${path} answered ${res.status}: ${body}`);
  return JSON.parse(body) as T;
}

/** Every repository (one page of up to 1000: the tests make a handful). */
export async function catalog(registry: RunningRegistry): Promise<string[]> {
  return (await json<{ repositories: string[] | null }>(registry, "/v2/_catalog?n=1000")).repositories ?? [];
}

/** The tag list as the server returns it (docker-registry does not sort it). */
export async function tags(registry: RunningRegistry, repo: string): Promise<string[]> {
  return (await json<{ name: string; tags: string[] | null }>(registry, `/v2/${repo}/tags/list`)).tags ?? [];
}

export interface ManifestHead {
  status: number;
  digest: string | null;
  contentType: string | null;
  length: number | null;
}

/** HEAD of a manifest by tag or digest, accepting every image media type. */
export async function headManifest(registry: RunningRegistry, repo: string, ref: string): Promise<ManifestHead> {
  const res = await request(registry, "HEAD", `/v2/${repo}/manifests/${ref}`, { headers: { Accept: MANIFEST_ACCEPT } });
  const length = res.headers.get("content-length");
  return {
    status: res.status,
    digest: res.headers.get("docker-content-digest"),
    contentType: res.headers.get("content-type"),
    length: length === null ? null : Number(length),
  };
}

/** DELETE of a manifest reference (a digest, or a tag where the server allows it); returns the status. */
export async function deleteManifest(registry: RunningRegistry, repo: string, ref: string): Promise<number> {
  const res = await request(registry, "DELETE", `/v2/${repo}/manifests/${ref}`);
  await res.arrayBuffer();
  return res.status;
}

/** A blob's bytes (or a `Range` of them) and headers; the body is read whole (test blobs are small). */
export async function getBlob(registry: RunningRegistry, repo: string, digest: string, range?: string): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const res = await request(registry, "GET", `/v2/${repo}/blobs/${digest}`, range === undefined ? {} : { headers: { Range: range } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

/** Uploads a blob in two PATCH chunks and a closing PUT: the chunked path, not the monolithic one. */
export async function pushBlobChunked(registry: RunningRegistry, repo: string, bytes: Buffer, digest: string): Promise<void> {
  const start = await request(registry, "POST", `/v2/${repo}/blobs/uploads/`);
  await start.arrayBuffer();
  if (start.status !== 202) throw new Error(`${registry.kind}: POST upload answered ${start.status}`);
  let location = absolute(registry, start.headers.get("location"));
  const half = Math.floor(bytes.length / 2);
  for (const [from, to] of [[0, half], [half, bytes.length]] as const) {
    if (to === from) continue;
    const res = await fetch(location, {
      method: "PATCH",
      body: bytes.subarray(from, to),
      headers: { "Content-Type": "application/octet-stream", "Content-Range": `${from}-${to - 1}` },
    });
    const body = await res.text();
    if (res.status !== 202) throw new Error(`${registry.kind}: PATCH ${from}-${to - 1} answered ${res.status}: ${body}`);
    location = absolute(registry, res.headers.get("location"));
  }
  const url = new URL(location);
  url.searchParams.set("digest", digest);
  const done = await fetch(url, { method: "PUT" });
  const body = await done.text();
  if (done.status !== 201) throw new Error(`${registry.kind}: PUT ?digest= answered ${done.status}: ${body}`);
}

function absolute(registry: RunningRegistry, location: string | null): string {
  if (location === null) throw new Error(`${registry.kind}: upload response without Location`);
  return new URL(location, registry.url).toString();
}
