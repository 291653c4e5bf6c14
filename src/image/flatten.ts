import type { Readable } from "node:stream";
import { openBlob, statBlob } from "../client/blobs.js";
import { formatReference, type Reference } from "../client/reference.js";
import type { TransportPool } from "../client/transport.js";
import { fileSource, uploadBlob } from "../client/upload.js";
import { isNondistributable, mediaTypes } from "../oci/mediatypes.js";
import { flattenLayers, type FlattenStats } from "./flatten-fs.js";
import { compressLayer } from "./layer-file.js";
import { layerName, loadImage, type RemoteImage } from "./remote.js";
import { familyOf, ImageError, type Descriptor, type Platform } from "./types.js";
import { writeImage, type WrittenImage } from "./write.js";

/** The image's filesystem as one uncompressed tar, whiteouts applied (layers are read twice: headers, then contents). */
export function imageFilesystem(image: RemoteImage, onDone?: (stats: FlattenStats) => void): Readable {
  const layers = image.manifest.layers;
  const foreign = layers.findIndex((l) => isNondistributable(l.mediaType));
  if (foreign >= 0) throw new ImageError(`${layerName(image, foreign)} is non-distributable (${layers[foreign]!.mediaType}): its content is not in the registry, so its files cannot be read; pull the image with its foreign layers into a registry that holds them`);
  return flattenLayers((i) => openBlob(image.transport, image.ref.repository, layers[i]!.digest, layers[i]!.size), layers.length, onDone, (i) => layerName(image, i));
}

/** `lading export`: the flattened filesystem of one platform of REF. */
export async function exportFilesystem(pool: TransportPool, ref: Reference, platform?: Platform, onDone?: (stats: FlattenStats) => void): Promise<Readable> {
  return imageFilesystem(await loadImage(pool, ref, platform), onDone);
}

export interface FlattenOptions {
  source: Reference;
  target: Reference;
  pool: TransportPool;
  platform?: Platform;
  timestamp?: string;
  onProgress?: (bytes: number, size: number) => void;
}

export interface FlattenResult extends WrittenImage {
  layer: Descriptor;
  diffId: string;
  stats: FlattenStats;
}

/**
 * Squashes every layer into one: the flattened tar, gzipped, becomes the only layer; its sha256
 * before compression the only diff_id; one history entry records the step. The runtime config stays.
 */
export async function flattenImage(options: FlattenOptions): Promise<FlattenResult> {
  const image = await loadImage(options.pool, options.source, options.platform);
  let stats: FlattenStats = { layers: image.manifest.layers.length, entries: 0, hidden: 0 };
  const layerFile = await compressLayer(imageFilesystem(image, (s) => (stats = s)));
  try {
    const t = options.pool.get(options.target.registry);
    if (!(await statBlob(t, options.target.repository, layerFile.digest))) {
      const progress = options.onProgress;
      await uploadBlob(t, options.target.repository, fileSource(layerFile.file, layerFile.digest, layerFile.size), progress ? { onProgress: (b) => progress(b, layerFile.size) } : {});
    }
  } finally {
    await layerFile.cleanup();
  }
  const created = options.timestamp ?? image.config.created ?? new Date().toISOString();
  const layer: Descriptor = { mediaType: familyOf(image.mediaType) === "docker" ? mediaTypes.dockerLayerGzip : mediaTypes.ociLayerGzip, digest: layerFile.digest, size: layerFile.size };
  const config = structuredClone(image.config);
  config.rootfs = { type: "layers", diff_ids: [layerFile.diffId] };
  config.history = [{ created, created_by: `lading flatten ${formatReference(options.source)}`, comment: `${stats.layers} layers squashed into one` }];
  config.created = created;
  const written = await writeImage(options.pool, image, options.target, config, { layers: [], extraLayers: [layer] });
  return { ...written, layer, diffId: layerFile.diffId, stats };
}
