import { Readable } from "node:stream";
import { isAlgorithm, newHash } from "../oci/digest.js";
import { pull, push } from "./challenge.js";
import { ClientError, DigestMismatchError, NetworkError } from "./errors.js";
import { drain, header, readBody } from "./http.js";
import type { Transport } from "./transport.js";
import { verifyBytes } from "./verify.js";

export interface BlobInfo {
  digest: string;
  size: number;
}

const blobPath = (repo: string, digest: string) => `/v2/${repo}/blobs/${digest}`;

/** HEAD a blob; undefined when the repository does not have it. */
export async function statBlob(t: Transport, repo: string, digest: string): Promise<BlobInfo | undefined> {
  const res = await t.request({ method: "HEAD", path: blobPath(repo, digest), scopes: [pull(repo)], expect: [200, 404] });
  drain(res.body);
  if (res.status === 404) return undefined;
  return { digest, size: Number(header(res.headers, "content-length") ?? -1) };
}

/**
 * Streams a blob, verifying digest and size as it goes: the stream errors instead of ending when the
 * content is wrong. A connection broken mid-way is resumed with a Range request, hashing on.
 */
export function openBlob(t: Transport, repo: string, digest: string, size?: number, resumes = 3): Readable {
  const algorithm = digest.slice(0, digest.indexOf(":"));
  if (!isAlgorithm(algorithm)) throw new ClientError(`cannot verify ${digest}: unsupported digest algorithm`);
  async function* chunks(): AsyncGenerator<Buffer> {
    const hash = newHash(algorithm as "sha256");
    let offset = 0;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
      const res = await t.request({ method: "GET", path: blobPath(repo, digest), headers, scopes: [pull(repo)], expect: [200, 206] });
      // A server that ignores Range resends from the start: skip what was already passed on.
      let skip = res.status === 200 ? offset : 0;
      try {
        for await (const raw of res.body) {
          let chunk = raw as Buffer;
          if (skip > 0) {
            const n = Math.min(skip, chunk.length);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.length === 0) continue;
          }
          offset += chunk.length;
          if (size !== undefined && offset > size) throw new DigestMismatchError(digest, "(more bytes than the descriptor's size)", { expected: size, actual: offset });
          hash.update(chunk);
          yield chunk;
        }
        break;
      } catch (err) {
        if (err instanceof ClientError || attempt >= resumes) throw err instanceof ClientError ? err : new NetworkError(`GET ${digest}: ${(err as Error).message}`, err);
      }
    }
    const actual = `${algorithm}:${hash.digest("hex")}`;
    if (actual !== digest || (size !== undefined && offset !== size)) {
      throw new DigestMismatchError(digest, actual, size === undefined ? undefined : { expected: size, actual: offset });
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** A blob small enough to hold (a config), verified. */
export async function readBlob(t: Transport, repo: string, digest: string, cap = 16 << 20): Promise<Buffer> {
  const res = await t.request({ method: "GET", path: blobPath(repo, digest), scopes: [pull(repo)], expect: [200] });
  const data = await readBody(res.body, cap);
  verifyBytes(data, digest);
  return data;
}

/** A range of a blob, unverified (the caller hashes the whole); used to re-read a source when resuming an upload. */
export async function openBlobRange(t: Transport, repo: string, digest: string, start: number, end?: number): Promise<Readable> {
  const range = `bytes=${start}-${end === undefined ? "" : end - 1}`;
  const res = await t.request({ method: "GET", path: blobPath(repo, digest), headers: start > 0 || end !== undefined ? { range } : {}, scopes: [pull(repo)], expect: [200, 206] });
  if (res.status === 200 && (start > 0 || end !== undefined)) {
    res.body.destroy();
    throw new ClientError(`${t.registry} ignored a Range request for ${digest}`);
  }
  return res.body;
}

export type MountResult = { mounted: true } | { mounted: false; location: string };

/**
 * Cross-repository mount. A refusal (202) opens an upload session instead, whose Location the
 * caller uploads to: the fallback to copying costs no extra round trip.
 */
export async function mountBlob(t: Transport, repo: string, digest: string, from: string): Promise<MountResult> {
  const query = new URLSearchParams({ mount: digest, from });
  const res = await t.request({ method: "POST", path: `/v2/${repo}/blobs/uploads/?${query}`, scopes: [push(repo), pull(from)], expect: [201, 202] });
  drain(res.body);
  if (res.status === 201) return { mounted: true };
  const location = header(res.headers, "location");
  if (!location) throw new ClientError(`${t.registry}: mount refused without an upload Location`);
  return { mounted: false, location };
}

export async function deleteBlob(t: Transport, repo: string, digest: string): Promise<void> {
  const res = await t.request({ method: "DELETE", path: blobPath(repo, digest), scopes: [{ type: "repository", name: repo, actions: ["delete"] }], expect: [202, 200] });
  drain(res.body);
}
