import { statBlob } from "../client/blobs.js";
import { putManifest } from "../client/manifests.js";
import { manifestKey, type Reference } from "../client/reference.js";
import type { TransportPool } from "../client/transport.js";
import { bufferSource, uploadBlob } from "../client/upload.js";
import { digestOf } from "../oci/digest.js";
import { isNondistributable } from "../oci/mediatypes.js";
import type { RemoteImage } from "./remote.js";
import { transferBlob, type BlobLocation, type BlobTransfer } from "./transfer.js";
import { canonicalBytes, familyOf, type Descriptor, type ImageConfig, type ImageManifest } from "./types.js";

export interface WrittenImage {
  digest: string;
  configDigest: string;
  bytesMoved: number;
  /** What happened to each layer: skipped, mounted or copied. */
  blobs: BlobTransfer[];
}

export interface WriteOptions {
  /** Layers already uploaded to the target, appended after `layers`. */
  extraLayers?: Descriptor[];
  annotations?: Record<string, string>;
  /** The layers of `from` to keep (default: all of them). */
  layers?: Descriptor[];
  /** Push the manifest by digest only (a platform of an index the caller tags). */
  untagged?: boolean;
}

/**
 * Pushes a derivative of `from` to `target`: its layers (mounted or copied when the repository
 * differs) plus `extraLayers` already uploaded there, the new config, then the manifest under the tag.
 */
export async function writeImage(
  pool: TransportPool,
  from: RemoteImage,
  target: Reference,
  config: ImageConfig,
  options: WriteOptions = {},
): Promise<WrittenImage> {
  const to: BlobLocation = { transport: pool.get(target.registry), repo: target.repository };
  const source: BlobLocation = { transport: from.transport, repo: from.ref.repository };
  const layers = options.layers ?? from.manifest.layers;
  const blobs: BlobTransfer[] = [];
  for (const layer of layers) {
    if (isNondistributable(layer.mediaType)) continue;
    blobs.push(await transferBlob(source, to, layer));
  }
  const bytesMoved = blobs.reduce((n, b) => n + b.bytes, 0);
  const configBytes = canonicalBytes(config);
  const configDigest = digestOf(configBytes);
  if (!(await statBlob(to.transport, to.repo, configDigest))) await uploadBlob(to.transport, to.repo, bufferSource(configBytes, configDigest));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: from.mediaType,
    config: { mediaType: from.manifest.config.mediaType, digest: configDigest, size: configBytes.length },
    layers: [...layers, ...(options.extraLayers ?? [])],
  };
  const annotations = { ...from.manifest.annotations, ...options.annotations };
  // Docker schema 2 has no annotations field.
  if (Object.keys(annotations).length > 0 && familyOf(from.mediaType) === "oci") manifest.annotations = annotations;
  const bytes = canonicalBytes(manifest);
  const digest = await putManifest(to.transport, to.repo, options.untagged ? digestOf(bytes) : manifestKey(target), bytes, from.mediaType);
  return { digest, configDigest, bytesMoved, blobs };
}
