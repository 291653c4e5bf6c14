/**
 * Reading and extending OCI image layouts (index.json + blobs/sha256/...) as umoci and skopeo
 * write them. Digests are always of the raw bytes on disk: umoci ends manifests with a newline.
 */
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const REF_NAME = "org.opencontainers.image.ref.name";

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ImageConfig {
  architecture: string;
  os: string;
  config?: { Env?: string[]; Entrypoint?: string[]; Cmd?: string[] };
  rootfs: { type: string; diff_ids: string[] };
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function blobPath(layout: string, digest: string): string {
  const [alg, hex] = digest.split(":");
  if (alg === undefined || hex === undefined) throw new Error(`not a digest: ${digest}`);
  return join(layout, "blobs", alg, hex);
}

export async function readBlob(layout: string, digest: string): Promise<Buffer> {
  const bytes = await readFile(blobPath(layout, digest));
  const actual = sha256(bytes);
  if (actual !== digest) throw new Error(`layout ${layout}: blob ${digest} hashes to ${actual}`);
  return bytes;
}

export async function readJsonBlob<T>(layout: string, digest: string): Promise<T> {
  return JSON.parse((await readBlob(layout, digest)).toString("utf8")) as T;
}

export async function readLayoutIndex(layout: string): Promise<ImageIndex> {
  return JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as ImageIndex;
}

/** The descriptor index.json holds for `tag`; throws if the layout has no such tag. */
export async function tagDescriptor(layout: string, tag: string): Promise<Descriptor> {
  const index = await readLayoutIndex(layout);
  const found = index.manifests.filter((d) => d.annotations?.[REF_NAME] === tag);
  const only = found[0];
  if (only === undefined || found.length > 1) throw new Error(`layout ${layout}: ${found.length} entries tagged ${tag}`);
  return only;
}

export interface LayoutImage {
  manifestDigest: string;
  manifestBytes: Buffer;
  manifest: ImageManifest;
  config: ImageConfig;
}

/** The single-platform image a tag (or a digest) names, read and verified from the layout. */
export async function readImage(layout: string, tagOrDigest: string): Promise<LayoutImage> {
  const manifestDigest = tagOrDigest.startsWith("sha256:") ? tagOrDigest : (await tagDescriptor(layout, tagOrDigest)).digest;
  const manifestBytes = await readBlob(layout, manifestDigest);
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as ImageManifest;
  if (!Array.isArray(manifest.layers)) throw new Error(`layout ${layout}: ${manifestDigest} is not an image manifest`);
  const config = await readJsonBlob<ImageConfig>(layout, manifest.config.digest);
  return { manifestDigest, manifestBytes, manifest, config };
}

/** Writes `bytes` as a blob of the layout and returns its descriptor. */
export async function writeBlob(layout: string, mediaType: string, bytes: Buffer): Promise<Descriptor> {
  const digest = sha256(bytes);
  await writeFile(blobPath(layout, digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

/**
 * Assembles an OCI image index over `manifests` (each with its platform), stores it as a blob
 * and tags it in index.json: the multi-arch image umoci cannot make by itself.
 */
export async function writeImageIndex(layout: string, tag: string, manifests: Descriptor[]): Promise<Descriptor> {
  const body: ImageIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
  const descriptor = await writeBlob(layout, OCI_INDEX, Buffer.from(JSON.stringify(body)));
  const index = await readLayoutIndex(layout);
  index.manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME] !== tag);
  index.manifests.push({ ...descriptor, annotations: { [REF_NAME]: tag } });
  await writeFile(join(layout, "index.json"), JSON.stringify(index));
  return descriptor;
}
