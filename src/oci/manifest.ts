import { isAlgorithm, looksLikeDigest, parseDigest, type Digest } from "./digest.js";
import { RegistryError } from "./errors.js";
import { bareMediaType, imageManifestTypes, indexTypes, isNondistributable, manifestTypes, mediaTypes } from "./mediatypes.js";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  artifactType?: string;
  platform?: Platform;
}

export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
}

/** What the registry needs to know of a manifest it stores. */
export interface ParsedManifest {
  mediaType: string;
  kind: "image" | "index";
  /** Blobs that must be in the repository (config and distributable layers). */
  blobs: Digest[];
  /** Manifests that an index names. */
  manifests: Digest[];
  subject?: Digest;
  /** The artifactType a referrers listing reports for this manifest. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

function invalid(message: string): RegistryError {
  return new RegistryError("MANIFEST_INVALID", message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Optional fields written as `null` (some generators do) count as absent. */
function checkDescriptor(input: unknown, where: string): Descriptor {
  if (!isRecord(input)) throw invalid(`${where} is not a descriptor object`);
  const value: Record<string, unknown> = { ...input };
  for (const key of ["urls", "annotations", "data", "artifactType", "platform"]) if (value[key] === null) delete value[key];
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== "string" || mediaType === "") throw invalid(`${where}.mediaType is missing`);
  // A digest of an algorithm lading knows must have its exact form (image-spec descriptor.md).
  if (typeof digest !== "string" || !looksLikeDigest(digest) || (isAlgorithm(digest.slice(0, digest.indexOf(":"))) && !parseDigest(digest))) {
    throw invalid(`${where}.digest is not a valid digest`);
  }
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw invalid(`${where}.size is not a non-negative integer`);
  if (value.urls !== undefined && (!Array.isArray(value.urls) || value.urls.some((u) => typeof u !== "string"))) {
    throw invalid(`${where}.urls is not a list of strings`);
  }
  if (value.annotations !== undefined && !isStringMap(value.annotations)) throw invalid(`${where}.annotations is not a map of strings`);
  if (value.data !== undefined) {
    if (typeof value.data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value.data)) throw invalid(`${where}.data is not base64`);
    const bytes = Buffer.from(value.data, "base64");
    if (bytes.length !== size) throw invalid(`${where}.data is ${bytes.length} bytes but size says ${size}`);
  }
  return value as unknown as Descriptor;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return isRecord(value) && Object.values(value).every((v) => typeof v === "string");
}

/** A digest named by a manifest; one of an algorithm lading cannot compute can never be present. */
function referenced(descriptor: Descriptor, where: string): Digest {
  const digest = parseDigest(descriptor.digest);
  if (!digest) throw new RegistryError("MANIFEST_BLOB_UNKNOWN", `${where} names ${descriptor.digest}, an unsupported digest`, { detail: { digest: descriptor.digest } });
  return digest;
}

/** Real manifests nest five or six levels; parsing a few million takes the event loop for seconds. */
const maxDepth = 64;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The manifest's text, refusing what JSON.parse would take but a manifest must not be: bytes that
 * are not UTF-8 (silently replaced otherwise), nesting deeper than maxDepth (refused before
 * parsing), and duplicate keys, which parsers resolve differently (JSON.parse and Go keep the
 * last, others the first or refuse): the registry would check other blobs than a client pulls.
 * Not a validator: JSON.parse still judges the syntax afterwards.
 */
function manifestText(body: Buffer): string {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw invalid("manifest is not valid UTF-8");
  }
  // The keys seen in each open object; null for an open array.
  const open: (Set<string> | null)[] = [];
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      if (!keyNext) continue;
      keyNext = false;
      const key = keyOf(text.slice(start, i + 1));
      const keys = open.at(-1)!;
      if (keys.has(key)) throw invalid(`manifest has a duplicate key ${JSON.stringify(key)}`);
      keys.add(key);
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (open.length === maxDepth) throw invalid(`manifest nests deeper than ${maxDepth} levels`);
      open.push(c === 0x7b ? new Set() : null);
      keyNext = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      keyNext = false;
    } else if (c === 0x2c /* , */) {
      keyNext = open.at(-1) instanceof Set;
    }
  }
  return text;
}

/** A key as parsed: `"a"` and `"\u0061"` are one key. */
function keyOf(quoted: string): string {
  if (!quoted.includes("\\")) return quoted.slice(1, -1);
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted; // not JSON: JSON.parse refuses the whole text next
  }
}

/**
 * Validates a manifest body as pushed with `contentType` and extracts what the registry checks and
 * indexes. Unknown fields are allowed and kept (the bytes are stored as they came).
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  const text = manifestText(body);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid(`manifest is not valid JSON: ${(err as Error).message}`);
  }
  if (!isRecord(json)) throw invalid("manifest is not a JSON object");
  const declared = typeof json.mediaType === "string" ? json.mediaType : undefined;
  const header = bareMediaType(contentType);
  if (json.schemaVersion === 1 || header === mediaTypes.dockerSchema1 || header === mediaTypes.dockerSchema1Signed) {
    throw invalid("Docker schema 1 manifests are not supported; push schema 2 or OCI (e.g. skopeo copy --format v2s2)");
  }
  if (json.schemaVersion !== 2) throw invalid("schemaVersion must be 2");
  if (json.mediaType !== undefined && typeof json.mediaType !== "string") throw invalid("mediaType must be a string");
  const headerNames = manifestTypes.has(header) ? header : undefined;
  if (declared !== undefined && headerNames !== undefined && declared !== headerNames) {
    throw invalid(`mediaType ${declared} does not match Content-Type ${header}`);
  }
  const mediaType = declared ?? headerNames ?? (Array.isArray(json.manifests) ? mediaTypes.ociIndex : mediaTypes.ociManifest);
  if (!manifestTypes.has(mediaType)) throw invalid(`unsupported manifest media type ${mediaType}`);

  const parsed: ParsedManifest = { mediaType, kind: indexTypes.has(mediaType) ? "index" : "image", blobs: [], manifests: [] };
  if (json.subject !== undefined && json.subject !== null) {
    // A subject need not exist; one of an algorithm lading cannot compute is kept but not indexed.
    const subject = parseDigest(checkDescriptor(json.subject, "subject").digest);
    if (subject) parsed.subject = subject;
  }
  if (json.annotations !== undefined && json.annotations !== null) {
    if (!isStringMap(json.annotations)) throw invalid("annotations is not a map of strings");
    parsed.annotations = json.annotations;
  }
  if (json.artifactType !== undefined && json.artifactType !== null) {
    if (typeof json.artifactType !== "string") throw invalid("artifactType must be a string");
    // The spec treats an empty artifactType as missing.
    if (json.artifactType !== "") parsed.artifactType = json.artifactType;
  }

  if (imageManifestTypes.has(mediaType)) {
    if (Array.isArray(json.manifests)) throw invalid("an image manifest has no manifests field");
    const config = checkDescriptor(json.config, "config");
    if (!Array.isArray(json.layers)) throw invalid("layers must be a list");
    parsed.blobs.push(referenced(config, "config"));
    json.layers.forEach((value, i) => {
      const layer = checkDescriptor(value, `layers[${i}]`);
      if (!isNondistributable(layer.mediaType)) parsed.blobs.push(referenced(layer, `layers[${i}]`));
    });
    parsed.artifactType ??= config.mediaType;
  } else {
    if (!Array.isArray(json.manifests)) throw invalid("manifests must be a list");
    if (json.config !== undefined || json.layers !== undefined) throw invalid("an index has no config or layers");
    json.manifests.forEach((value, i) => {
      const child = checkDescriptor(value, `manifests[${i}]`);
      parsed.manifests.push(referenced(child, `manifests[${i}]`));
    });
  }
  return parsed;
}
