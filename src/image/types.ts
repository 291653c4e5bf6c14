import type { Descriptor, Platform } from "../oci/manifest.js";
import { imageManifestTypes, indexTypes, mediaTypes } from "../oci/mediatypes.js";

export type { Descriptor, Platform };

/** The runtime part of an image config (image-spec config.md "config"); unknown keys are kept. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  [other: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
  config?: ContainerConfig;
  rootfs: { type: string; diff_ids: string[] };
  history?: HistoryEntry[];
  [other: string]: unknown;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Thrown for content that is not a usable image: exit code 1 with a one-line reason. */
export class ImageError extends Error {
  override name = "ImageError";
  readonly exitCode: number = 1;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ImageError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  try {
    return record(JSON.parse(bytes.toString("utf8")), what);
  } catch (err) {
    if (err instanceof ImageError) throw err;
    throw new ImageError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function checkDescriptors(value: unknown, what: string): Descriptor[] {
  if (!Array.isArray(value)) throw new ImageError(`${what} is not a list`);
  return value.map((d, i) => {
    const r = record(d, `${what}[${i}]`);
    if (typeof r.digest !== "string" || typeof r.size !== "number" || typeof r.mediaType !== "string") {
      throw new ImageError(`${what}[${i}] lacks mediaType, digest or size`);
    }
    return r as unknown as Descriptor;
  });
}

export function parseImageManifest(bytes: Buffer, mediaType?: string): ImageManifest {
  const json = parseJson(bytes, "manifest");
  const type = typeof json.mediaType === "string" ? json.mediaType : mediaType;
  if (type !== undefined && !imageManifestTypes.has(type)) throw new ImageError(`expected an image manifest, got ${type}`);
  if (json.schemaVersion !== 2) throw new ImageError("manifest schemaVersion is not 2");
  checkDescriptors([json.config], "manifest config");
  checkDescriptors(json.layers, "manifest layers");
  return json as unknown as ImageManifest;
}

export function parseIndex(bytes: Buffer): ImageIndex {
  const json = parseJson(bytes, "index");
  if (json.schemaVersion !== 2) throw new ImageError("index schemaVersion is not 2");
  checkDescriptors(json.manifests, "index manifests");
  return json as unknown as ImageIndex;
}

export function parseConfig(bytes: Buffer): ImageConfig {
  const json = parseJson(bytes, "image config");
  const rootfs = record(json.rootfs, "config rootfs");
  if (!Array.isArray(rootfs.diff_ids) || rootfs.diff_ids.some((d) => typeof d !== "string")) throw new ImageError("config rootfs.diff_ids is not a list of digests");
  if (json.history !== undefined && !Array.isArray(json.history)) throw new ImageError("config history is not a list");
  if (json.config !== undefined && json.config !== null) record(json.config, "config config");
  if (typeof json.os !== "string" || typeof json.architecture !== "string") throw new ImageError("config lacks os or architecture");
  return json as unknown as ImageConfig;
}

export function isIndexType(mediaType: string): boolean {
  return indexTypes.has(mediaType);
}

/** "docker" or "oci": a merged image must not mix them (docker cannot pull OCI layers in a schema-2 manifest). */
export type Family = "docker" | "oci";

export function familyOf(mediaType: string): Family {
  return mediaType === mediaTypes.dockerManifest || mediaType === mediaTypes.dockerManifestList ? "docker" : "oci";
}

export function indexTypeFor(family: Family): string {
  return family === "docker" ? mediaTypes.dockerManifestList : mediaTypes.ociIndex;
}

/** Serializes JSON the way it will be hashed: these bytes are what gets uploaded and digested. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
