import { statBlob } from "../client/blobs.js";
import type { Reference } from "../client/reference.js";
import type { TransportPool } from "../client/transport.js";
import { fileSource, uploadBlob } from "../client/upload.js";
import { mediaTypes } from "../oci/mediatypes.js";
import { makeLayer } from "./layer-file.js";
import { loadImage } from "./remote.js";
import { familyOf, ImageError, type Descriptor, type Platform } from "./types.js";
import { writeImage, type WrittenImage } from "./write.js";

export interface AppendOptions {
  base: Reference;
  target: Reference;
  /** Directories or tarballs (plain or gzip), each becoming one layer, in order. */
  inputs: string[];
  pool: TransportPool;
  platform?: Platform;
  timestamp?: string;
  onProgress?: (bytes: number, size: number) => void;
}

/** Adds layers on top of an image, with matching diff_ids and one history entry per layer. */
export async function appendLayers(options: AppendOptions): Promise<WrittenImage & { layers: Descriptor[] }> {
  if (options.inputs.length === 0) throw new ImageError("append needs at least one directory or tarball");
  const base = await loadImage(options.pool, options.base, options.platform);
  const created = options.timestamp ?? new Date().toISOString();
  const t = options.pool.get(options.target.registry);
  const config = structuredClone(base.config);
  const layers: Descriptor[] = [];
  for (const input of options.inputs) {
    const layer = await makeLayer(input);
    try {
      if (!(await statBlob(t, options.target.repository, layer.digest))) {
        const progress = options.onProgress;
        await uploadBlob(t, options.target.repository, fileSource(layer.file, layer.digest, layer.size), progress ? { onProgress: (b) => progress(b, layer.size) } : {});
      }
    } finally {
      await layer.cleanup();
    }
    layers.push({ mediaType: familyOf(base.mediaType) === "docker" ? mediaTypes.dockerLayerGzip : mediaTypes.ociLayerGzip, digest: layer.digest, size: layer.size });
    config.rootfs.diff_ids.push(layer.diffId);
    // A base without history stays without: adding entries would misalign the existing layers.
    if (config.history?.length) config.history.push({ created, created_by: `lading append ${input}` });
  }
  config.created = created;
  const written = await writeImage(options.pool, base, options.target, config, { extraLayers: layers });
  return { ...written, layers };
}
