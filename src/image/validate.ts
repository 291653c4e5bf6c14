import { openBlob, readBlob } from "../client/blobs.js";
import { DigestMismatchError } from "../client/errors.js";
import { fetchManifest } from "../client/manifests.js";
import { manifestKey, type Reference } from "../client/reference.js";
import type { Transport, TransportPool } from "../client/transport.js";
import { isNondistributable } from "../oci/mediatypes.js";
import { historyMismatch } from "./history.js";
import { formatPlatform } from "./platform.js";
import { readLayer } from "./layer-reader.js";
import { familyOf, isIndexType, parseConfig, parseImageManifest, parseIndex, type ImageConfig } from "./types.js";

export interface Problem {
  /** Which manifest (its digest), and the index of the culprit layer when there is one. */
  manifest: string;
  layer?: number;
  message: string;
}

export interface ValidationReport {
  digest: string;
  images: number;
  layers: number;
  problems: Problem[];
  /** What could not be checked, and why (a non-distributable layer's bytes are elsewhere). */
  notes: Problem[];
}

/** Reads a layer as a runtime unpacks it (through the reader every image tool uses): its diff_id. */
async function layerDigests(t: Transport, repo: string, digest: string, size: number): Promise<string> {
  return (await readLayer(openBlob(t, repo, digest, size))).diffId;
}

async function validateImage(t: Transport, repo: string, digest: string, bytes: Buffer, mediaType: string, problems: Problem[], notes: Problem[]): Promise<number> {
  const add = (message: string, layer?: number) => problems.push({ manifest: digest, ...(layer === undefined ? {} : { layer }), message });
  const manifest = parseImageManifest(bytes, mediaType);
  const family = familyOf(mediaType);
  manifest.layers.forEach((l, i) => {
    const layerFamily = l.mediaType.startsWith("application/vnd.docker.") ? "docker" : "oci";
    if (layerFamily !== family) add(`layer ${i} has media type ${l.mediaType} in a ${family} manifest (mixed media-type families; some runtimes refuse the pull)`, i);
    if (family === "docker" && l.mediaType.includes("zstd")) add(`layer ${i} is zstd in a Docker manifest (docker: unsupported media type)`, i);
  });
  let config: ImageConfig | undefined;
  try {
    const data = await readBlob(t, repo, manifest.config.digest);
    if (data.length !== manifest.config.size) add(`config is ${data.length} bytes but the manifest says ${manifest.config.size}`);
    config = parseConfig(data);
  } catch (err) {
    const why = err instanceof DigestMismatchError ? `docker would print: image config verification failed for digest ${manifest.config.digest}` : (err as Error).message;
    add(`config ${manifest.config.digest}: ${why}`);
  }
  if (config) {
    const ids = config.rootfs.diff_ids;
    if (ids.length !== manifest.layers.length) add(`${manifest.layers.length} layers but ${ids.length} diff_ids (docker would print: layers from manifest don't match image configuration)`);
    const h = historyMismatch(config);
    if (h) add(`${h} (docker history would attribute layers to the wrong steps)`);
  }
  for (const [i, layer] of manifest.layers.entries()) {
    if (isNondistributable(layer.mediaType)) {
      notes.push({ manifest: digest, layer: i, message: `layer ${i} ${layer.digest} is non-distributable (${layer.mediaType}): its bytes are not in the registry, not checked` });
      continue;
    }
    try {
      const diffId = await layerDigests(t, repo, layer.digest, layer.size);
      const want = config?.rootfs.diff_ids[i];
      if (want !== undefined && want !== diffId) add(`layer ${i} unpacks to ${diffId} but diff_ids[${i}] is ${want} (containerd would print: wrong diff id calculated on extraction "${want}")`, i);
    } catch (err) {
      const why = err instanceof DigestMismatchError ? `${err.message} (docker would print: filesystem layer verification failed for digest ${layer.digest})` : (err as Error).message;
      add(`layer ${i} ${layer.digest}: ${why}`, i);
    }
  }
  return manifest.layers.length;
}

/**
 * Reads every blob of an image (every platform of an index) and checks what a pull would: digests,
 * sizes, diff_ids, counts of layers, diff_ids and history, and one media-type family.
 */
export async function validateImageRef(pool: TransportPool, ref: Reference): Promise<ValidationReport> {
  const t = pool.get(ref.registry);
  const top = await fetchManifest(t, ref.repository, manifestKey(ref));
  const problems: Problem[] = [];
  const notes: Problem[] = [];
  let images = 0;
  let layers = 0;
  if (isIndexType(top.mediaType)) {
    for (const child of parseIndex(top.bytes).manifests) {
      const m = await fetchManifest(t, ref.repository, child.digest);
      if (m.bytes.length !== child.size) problems.push({ manifest: child.digest, message: `is ${m.bytes.length} bytes but the index says ${child.size}` });
      if (isIndexType(m.mediaType)) continue;
      layers += await validateImage(t, ref.repository, m.digest, m.bytes, m.mediaType, problems, notes);
      images++;
      if (child.platform) [...problems, ...notes].filter((p) => p.manifest === m.digest).forEach((p) => (p.message = `${formatPlatform(child.platform!)}: ${p.message}`));
    }
  } else {
    layers += await validateImage(t, ref.repository, top.digest, top.bytes, top.mediaType, problems, notes);
    images++;
  }
  return { digest: top.digest, images, layers, problems, notes };
}
