/**
 * Pushes and pulls over plain HTTP, with each kind of blob upload a client makes (one POST, PATCHes
 * with Content-Range, one streamed PATCH), every answer read whole: for tests that look at what a
 * registry answers to each request, failures included.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";

const MiB = 1024 * 1024;

export const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

export type Mode = "monolithic" | "chunked" | "streamed";
export const modes: Mode[] = ["monolithic", "chunked", "streamed"];

export interface Image {
  repo: string;
  tag: string;
  blobs: Buffer[];
  manifest: Buffer;
  digest: string;
}

export const ociManifest = "application/vnd.oci.image.manifest.v1+json";

export function image(repo: string, tag: string, layerSizes: number[]): Image {
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, comment: `${repo}:${tag}` }));
  const layers = layerSizes.map((n) => randomBytes(n));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: ociManifest,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(l), size: l.length })),
    }),
  );
  return { repo, tag, blobs: [config, ...layers], manifest, digest: sha256(manifest) };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** One request, its answer read whole; a server that does not answer fails it (no hang). */
export async function send(url: string | URL, init: RequestInit & { duplex?: "half" } = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** The bytes as a request body of unknown length (chunked transfer encoding), as docker streams a layer. */
function streamOf(data: Buffer): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.length) return controller.close();
      controller.enqueue(data.subarray(at, (at += MiB)));
    },
  });
}

/**
 * Uploads a blob: in one POST, in two PATCHes with Content-Range (the first of 1 MiB) and a PUT, or
 * in one streamed PATCH and a PUT. Returns the answer to the request that failed, or the last one.
 */
export async function upload(base: string, repo: string, data: Buffer, mode: Mode): Promise<Answer> {
  const digest = sha256(data);
  if (mode === "monolithic") return send(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: "POST", body: data });
  let res = await send(`${base}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  const pieces = mode === "chunked" ? [data.subarray(0, MiB), data.subarray(MiB)].filter((p) => p.length > 0) : [data];
  let offset = 0;
  for (const piece of pieces) {
    if (res.status !== 202) return res;
    const location = new URL(res.headers.get("location")!, base);
    res =
      mode === "chunked"
        ? await send(location, { method: "PATCH", body: piece, headers: { "Content-Type": "application/octet-stream", "Content-Range": `${offset}-${offset + piece.length - 1}` } })
        : await send(location, { method: "PATCH", body: streamOf(piece), duplex: "half", headers: { "Content-Type": "application/octet-stream" } });
    offset += piece.length;
  }
  if (res.status !== 202) return res;
  const done = new URL(res.headers.get("location")!, base);
  done.searchParams.set("digest", digest);
  return send(done, { method: "PUT" });
}

export function putManifest(base: string, img: Image): Promise<Answer> {
  return send(`${base}/v2/${img.repo}/manifests/${img.tag}`, { method: "PUT", body: img.manifest, headers: { "Content-Type": ociManifest } });
}

export async function pushBlobs(base: string, img: Image, mode: Mode = "monolithic"): Promise<void> {
  for (const blob of img.blobs) {
    const res = await upload(base, img.repo, blob, mode);
    assert.equal(res.status, 201, `${mode} upload of a blob of ${img.repo}: ${res.status} ${res.body.toString()}`);
  }
}

export async function push(base: string, img: Image, mode: Mode = "monolithic"): Promise<void> {
  await pushBlobs(base, img, mode);
  const res = await putManifest(base, img);
  assert.equal(res.status, 201, `PUT ${img.repo}:${img.tag}: ${res.status} ${res.body.toString()}`);
}

/** Pulls an image by tag and checks every byte; HEAD by digest of the manifest and every blob too. */
export async function pullWhole(base: string, img: Image): Promise<void> {
  const what = `${img.repo}:${img.tag}`;
  const got = await send(`${base}/v2/${img.repo}/manifests/${img.tag}`, { headers: { Accept: ociManifest } });
  assert.equal(got.status, 200, `GET ${what}: ${got.status} ${got.body.toString()}`);
  assert.ok(got.body.equals(img.manifest), `${what}: the manifest's bytes`);
  assert.equal(got.headers.get("docker-content-digest"), img.digest);
  assert.equal((await send(`${base}/v2/${img.repo}/manifests/${img.digest}`, { method: "HEAD", headers: { Accept: ociManifest } })).status, 200);
  for (const blob of img.blobs) {
    const digest = sha256(blob);
    const res = await send(`${base}/v2/${img.repo}/blobs/${digest}`);
    assert.equal(res.status, 200, `${what}: GET blob ${digest}`);
    assert.ok(res.body.equals(blob), `${what}: blob ${digest} whole`);
    const head = await send(`${base}/v2/${img.repo}/blobs/${digest}`, { method: "HEAD" });
    assert.equal(head.headers.get("content-length"), String(blob.length));
  }
}
