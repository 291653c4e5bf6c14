import { formatReference, type Reference } from "../client/reference.js";
import type { TransportPool } from "../client/transport.js";
import { mediaTypes } from "../oci/mediatypes.js";
import { addedHistory, syntheticHistory } from "./history.js";
import { lineageProblems, lineageSummary } from "./lineage.js";
import { loadImage, type RemoteImage } from "./remote.js";
import { transferBlob, type BlobLocation, type BlobTransfer } from "./transfer.js";
import { familyOf, ImageError, type Descriptor, type Family, type ImageConfig, type Platform } from "./types.js";
import { writeImage, type WrittenImage } from "./write.js";

export interface RebaseOptions {
  image: Reference;
  oldBase: Reference;
  newBase: Reference;
  target: Reference;
  pool: TransportPool;
  platform?: Platform;
  /** The config's `created`; by default the image's own is kept (same inputs, same digest). */
  timestamp?: string;
}

export interface RebaseResult extends WrittenImage {
  /** Layers replaced (OLD's) and put in their place (NEW's); the image's own layers that stayed on top. */
  removed: number;
  added: number;
  kept: number;
}

/** A gzip layer has one byte format in both families: only its media type needs to change. */
function inFamily(layer: Descriptor, family: Family, where: string): Descriptor {
  const type = layer.mediaType;
  if (type === mediaTypes.ociLayerGzip || type === mediaTypes.dockerLayerGzip) return { ...layer, mediaType: family === "docker" ? mediaTypes.dockerLayerGzip : mediaTypes.ociLayerGzip };
  if (type.startsWith("application/vnd.docker.") === (family === "docker")) return layer;
  throw new ImageError(`${where} has a ${type} layer, which a ${family} image cannot carry`);
}

/**
 * The rebased config: the image's own, with OLD's diff_ids and history entries swapped for NEW's.
 * The runtime config (Env, Cmd, …) is the image's: it was built on top of the base's already.
 */
export function rebaseConfig(image: ImageConfig, oldBase: ImageConfig, newBase: ImageConfig, created?: string): ImageConfig {
  const own = image.rootfs.diff_ids.slice(oldBase.rootfs.diff_ids.length);
  const config = structuredClone(image);
  config.rootfs = { type: "layers", diff_ids: [...newBase.rootfs.diff_ids, ...own] };
  const imageHistory = image.history ?? [];
  if (imageHistory.length > 0 || (newBase.history?.length ?? 0) > 0) {
    const newHistory = newBase.history?.length ? newBase.history : syntheticHistory(newBase.rootfs.diff_ids.length, "new base");
    config.history = [...structuredClone(newHistory), ...addedHistory(oldBase, image, own.length, "image")];
  }
  if (created !== undefined) config.created = created;
  return config;
}

/** Why IMAGE cannot be rebased: it does not start with OLD, or NEW does not fit it. */
function rebaseProblems(image: RemoteImage, oldBase: RemoteImage, newBase: RemoteImage): string[] {
  const problems = lineageProblems({ ...oldBase, label: "the old base" }, { ...image, label: "the image" });
  const want = `${image.config.os}/${image.config.architecture}`;
  if (`${newBase.config.os}/${newBase.config.architecture}` !== want) problems.push(`the new base is ${newBase.config.os}/${newBase.config.architecture} but the image is ${want}`);
  return problems;
}

/**
 * `lading rebase`: moves an image's own layers from OLD onto NEW. Within one registry every layer
 * is mounted (NEW's from NEW's repository, the image's from its own): no layer bytes move.
 */
export async function rebaseImage(options: RebaseOptions): Promise<RebaseResult> {
  const [image, oldBase, newBase] = await Promise.all([options.image, options.oldBase, options.newBase].map((r) => loadImage(options.pool, r, options.platform)));
  const problems = rebaseProblems(image!, oldBase!, newBase!);
  if (problems.length > 0) throw new ImageError(`${formatReference(options.image)} cannot be rebased: ${lineageSummary(problems)}; name as --old the base it was built FROM`);
  const family = familyOf(image!.mediaType);
  const removed = oldBase!.manifest.layers.length;
  const own = image!.manifest.layers.slice(removed);
  const newLayers = newBase!.manifest.layers.map((l, i) => inFamily(l, family, `new base layer ${i}`));

  const to: BlobLocation = { transport: options.pool.get(options.target.registry), repo: options.target.repository };
  const from: BlobLocation = { transport: newBase!.transport, repo: newBase!.ref.repository };
  const baseBlobs: BlobTransfer[] = [];
  for (const layer of newLayers) baseBlobs.push(await transferBlob(from, to, layer));

  const config = rebaseConfig(image!.config, oldBase!.config, newBase!.config, options.timestamp);
  const annotations = family === "oci" ? { "org.opencontainers.image.base.name": formatReference(options.newBase), "org.opencontainers.image.base.digest": newBase!.manifestDigest } : {};
  // NEW's layers are in the target now, so writeImage skips them and mounts the image's own.
  const written = await writeImage(options.pool, image!, options.target, config, { layers: [...newLayers, ...own], annotations });
  const moved = new Set(baseBlobs.map((b) => b.digest));
  const blobs = [...baseBlobs, ...written.blobs.filter((b) => !moved.has(b.digest))];
  return { ...written, blobs, bytesMoved: blobs.reduce((n, b) => n + b.bytes, 0), removed, added: newLayers.length, kept: own.length };
}
