import { createReadStream } from "node:fs";
import { Readable, Transform } from "node:stream";
import { newHash } from "../oci/digest.js";
import { openBlob, openBlobRange } from "./blobs.js";
import { push } from "./challenge.js";
import { ClientError, ResponseError, isRetryable } from "./errors.js";
import { drain, header } from "./http.js";
import type { Transport } from "./transport.js";

/** Content to upload that can be reopened at any offset, so an interrupted upload resumes. */
export interface BlobSource {
  readonly digest: string;
  readonly size: number;
  /** Bytes [start, end) — end defaults to size. */
  open(start: number, end?: number): Promise<Readable>;
}

export function bufferSource(data: Buffer, digest: string): BlobSource {
  return { digest, size: data.length, open: async (start, end) => Readable.from([data.subarray(start, end ?? data.length)]) };
}

export function fileSource(file: string, digest: string, size: number): BlobSource {
  return { digest, size, open: async (start, end) => createReadStream(file, { start, end: (end ?? size) - 1 }) };
}

/** A blob in another repository (or registry); a whole read is verified, a partial one the target verifies. */
export function remoteSource(t: Transport, repo: string, digest: string, size: number): BlobSource {
  return {
    digest,
    size,
    open: async (start, end) => (start === 0 && (end === undefined || end === size) ? openBlob(t, repo, digest, size) : openBlobRange(t, repo, digest, start, end)),
  };
}

export interface UploadOptions {
  /** An open session, e.g. from a refused mount. */
  location?: string;
  /** Upload in chunks of this many bytes (raised to the registry's OCI-Chunk-Min-Length). 0: one request. */
  chunkSize?: number;
  /** Blobs up to this size go in a single PUT. */
  monolithicLimit?: number;
  /** Absolute bytes the registry has acknowledged or is receiving. */
  onProgress?: (bytes: number) => void;
  resumes?: number;
}

interface Session {
  location: string;
  minChunk: number;
}

async function startSession(t: Transport, repo: string): Promise<Session> {
  const res = await t.request({ method: "POST", path: `/v2/${repo}/blobs/uploads/`, headers: { "content-length": "0" }, scopes: [push(repo)], expect: [202] });
  drain(res.body);
  const location = header(res.headers, "location");
  if (!location) throw new ClientError(`${t.registry}: upload started without a Location`);
  return { location, minChunk: Number(header(res.headers, "oci-chunk-min-length") ?? 0) || 0 };
}

function counting(base: number, onProgress?: (bytes: number) => void): Transform {
  let n = base;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      onProgress?.(n);
      done(null, chunk);
    },
  });
}

function withDigest(t: Transport, location: string, digest: string): string {
  const url = t.url(location);
  url.searchParams.set("digest", digest);
  return url.toString();
}

/** How many bytes the registry holds for a session (its Range header), or undefined when the session is gone. */
async function uploadedBytes(t: Transport, repo: string, location: string): Promise<{ offset: number; location: string } | undefined> {
  try {
    const res = await t.request({ method: "GET", path: location, scopes: [push(repo)], expect: [204] });
    drain(res.body);
    const range = /^(?:bytes=)?0-(\d+)$/.exec(header(res.headers, "range") ?? "");
    // "0-0" means zero or one byte; restart from 0 and let a 416 sort out the one-byte case.
    const end = range ? Number(range[1]) : 0;
    return { offset: end === 0 ? 0 : end + 1, location: header(res.headers, "location") ?? location };
  } catch (err) {
    if (err instanceof ResponseError && err.status === 404) return undefined;
    throw err;
  }
}

/**
 * Uploads a blob of known digest: one PUT when small, else PATCHes (one, or chunks when asked) and a
 * closing PUT. A broken PATCH resumes from the offset the registry reports; a lost session restarts.
 */
export async function uploadBlob(t: Transport, repo: string, source: BlobSource, options: UploadOptions = {}): Promise<void> {
  let session = options.location !== undefined ? { location: options.location, minChunk: 0 } : await startSession(t, repo);
  const resumes = options.resumes ?? 4;
  const chunkSize = () => (options.chunkSize || session.minChunk ? Math.max(options.chunkSize ?? 0, session.minChunk) : 0);

  if (chunkSize() === 0 && source.size <= (options.monolithicLimit ?? 1 << 20)) {
    try {
      const res = await t.request({
        method: "PUT",
        path: withDigest(t, session.location, source.digest),
        headers: { "content-type": "application/octet-stream", "content-length": String(source.size) },
        body: async () => (await source.open(0)).pipe(counting(0, options.onProgress)),
        scopes: [push(repo)],
        expect: [201],
        retry: false,
      });
      drain(res.body);
      return;
    } catch (err) {
      if (!isRetryable(err)) throw err;
      session = await startSession(t, repo);
    }
  }

  let offset = 0;
  for (let failures = 0; offset < source.size; ) {
    const size = chunkSize();
    const end = size > 0 ? Math.min(source.size, offset + size) : source.size;
    const start = offset;
    try {
      const res = await t.request({
        method: "PATCH",
        path: session.location,
        headers: { "content-type": "application/octet-stream", "content-length": String(end - start), "content-range": `${start}-${end - 1}` },
        body: async () => (await source.open(start, end)).pipe(counting(start, options.onProgress)),
        scopes: [push(repo)],
        expect: [202, 204],
        retry: false,
      });
      drain(res.body);
      session = { ...session, location: header(res.headers, "location") ?? session.location };
      offset = end;
    } catch (err) {
      const rangeRefused = err instanceof ResponseError && err.status === 416;
      if ((!isRetryable(err) && !rangeRefused) || failures++ >= resumes) throw err;
      const status = rangeRefused ? undefined : await uploadedBytes(t, repo, session.location);
      if (status === undefined) {
        session = await startSession(t, repo);
        offset = 0;
      } else {
        session = { ...session, location: status.location };
        offset = status.offset;
      }
    }
  }
  const res = await t.request({ method: "PUT", path: withDigest(t, session.location, source.digest), headers: { "content-length": "0" }, scopes: [push(repo)], expect: [201] });
  drain(res.body);
}

/**
 * Uploads a stream whose digest is not known in advance (a layer being compressed on the fly):
 * one streamed PATCH, hashed on the way, and a PUT naming the digest at the end. Not resumable.
 */
export async function uploadStream(t: Transport, repo: string, content: Readable, onProgress?: (bytes: number) => void): Promise<{ digest: string; size: number }> {
  const session = await startSession(t, repo);
  const hash = newHash("sha256");
  let size = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      onProgress?.(size);
      done(null, chunk);
    },
  });
  content.on("error", (err) => hashing.destroy(err));
  const patched = await t.request({
    method: "PATCH",
    path: session.location,
    headers: { "content-type": "application/octet-stream" },
    body: () => content.pipe(hashing),
    scopes: [push(repo)],
    expect: [202, 204],
    retry: false,
  });
  drain(patched.body);
  const digest = `sha256:${hash.digest("hex")}`;
  const location = header(patched.headers, "location") ?? session.location;
  const res = await t.request({ method: "PUT", path: withDigest(t, location, digest), headers: { "content-length": "0" }, scopes: [push(repo)], expect: [201] });
  drain(res.body);
  return { digest, size };
}
