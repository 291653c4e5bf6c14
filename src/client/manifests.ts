import { digestOf } from "../oci/digest.js";
import { bareMediaType, mediaTypes } from "../oci/mediatypes.js";
import { pull, push, remove } from "./challenge.js";
import { ClientError, DigestMismatchError } from "./errors.js";
import { drain, header, readBody } from "./http.js";
import type { Transport } from "./transport.js";
import { verifyBytes } from "./verify.js";

/** Every manifest kind lading reads; schema 1 is left out on purpose (registries convert to it otherwise). */
export const manifestAccept = [mediaTypes.ociIndex, mediaTypes.ociManifest, mediaTypes.dockerManifestList, mediaTypes.dockerManifest].join(", ");

/** Manifests are read whole; this caps them like registries do. */
const manifestCap = 4 << 20;

export interface FetchedManifest {
  /** The exact bytes: their sha256 is the digest, so they are never re-serialized. */
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

const manifestPath = (repo: string, ref: string) => `/v2/${repo}/manifests/${ref}`;

function mediaTypeOf(bytes: Buffer, contentType: string | undefined): string {
  try {
    const json = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown; manifests?: unknown };
    if (typeof json.mediaType === "string") return json.mediaType;
    if (Array.isArray(json.manifests)) return mediaTypes.ociIndex;
  } catch {
    // not JSON: the caller's parser will say so; fall back to the header
  }
  return bareMediaType(contentType) || mediaTypes.ociManifest;
}

export async function fetchManifest(t: Transport, repo: string, ref: string): Promise<FetchedManifest> {
  const res = await t.request({ method: "GET", path: manifestPath(repo, ref), headers: { accept: manifestAccept }, scopes: [pull(repo)], expect: [200] });
  const bytes = await readBody(res.body, manifestCap);
  let digest: string;
  if (ref.includes(":")) {
    verifyBytes(bytes, ref);
    digest = ref;
  } else {
    digest = digestOf(bytes);
    const claimed = header(res.headers, "docker-content-digest");
    if (claimed?.startsWith("sha256:") && claimed !== digest) throw new DigestMismatchError(claimed, digest);
  }
  return { bytes, mediaType: mediaTypeOf(bytes, header(res.headers, "content-type")), digest };
}

/** HEAD a manifest; undefined when it does not exist. */
export async function statManifest(t: Transport, repo: string, ref: string): Promise<ManifestHead | undefined> {
  const res = await t.request({ method: "HEAD", path: manifestPath(repo, ref), headers: { accept: manifestAccept }, scopes: [pull(repo)], expect: [200, 404] });
  drain(res.body);
  if (res.status === 404) return undefined;
  const digest = header(res.headers, "docker-content-digest");
  if (!digest) {
    // Some registries omit the digest on HEAD; a GET gets it from the bytes.
    const m = await fetchManifest(t, repo, ref);
    return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length };
  }
  return { digest, mediaType: bareMediaType(header(res.headers, "content-type")), size: Number(header(res.headers, "content-length") ?? 0) };
}

/** PUTs manifest bytes under a tag or their digest; returns the digest. Retried like any request: a PUT is idempotent. */
export async function putManifest(t: Transport, repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<string> {
  return (await putManifestDetailed(t, repo, ref, bytes, mediaType)).digest;
}

/** Like putManifest, also telling whether the registry indexed the manifest's subject (its OCI-Subject header). */
export async function putManifestDetailed(t: Transport, repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<{ digest: string; subjectIndexed: boolean }> {
  const digest = digestOf(bytes);
  const res = await t.request({ method: "PUT", path: manifestPath(repo, ref), headers: { "content-type": mediaType }, body: bytes, scopes: [push(repo)], expect: [201, 200] });
  drain(res.body);
  const stored = header(res.headers, "docker-content-digest");
  if (stored?.startsWith("sha256:") && stored !== digest) throw new ClientError(`${t.registry} stored ${repo} as ${stored}, not ${digest}`);
  return { digest, subjectIndexed: header(res.headers, "oci-subject") !== undefined };
}

export async function deleteManifest(t: Transport, repo: string, ref: string): Promise<void> {
  const res = await t.request({ method: "DELETE", path: manifestPath(repo, ref), scopes: [remove(repo)], expect: [202, 200] });
  drain(res.body);
}
