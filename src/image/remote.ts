import { readBlob } from "../client/blobs.js";
import { fetchManifest, type FetchedManifest } from "../client/manifests.js";
import { formatReference, manifestKey, withDigest, type Reference } from "../client/reference.js";
import type { Transport, TransportPool } from "../client/transport.js";
import { formatPlatform, hostPlatform, isRunnablePlatform, platformMatches } from "./platform.js";
import { ImageError, isIndexType, parseConfig, parseImageManifest, parseIndex, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from "./types.js";

/** One platform's image as read from a registry: exact bytes kept beside the parsed forms. */
export interface RemoteImage {
  ref: Reference;
  transport: Transport;
  manifestBytes: Buffer;
  manifestDigest: string;
  mediaType: string;
  manifest: ImageManifest;
  configBytes: Buffer;
  config: ImageConfig;
  /** The platform as the index listed it (or as the config states it). */
  platform: Platform;
}

export type RemoteTarget =
  | { kind: "image"; image: RemoteImage }
  | { kind: "index"; ref: Reference; transport: Transport; fetched: FetchedManifest; index: ImageIndex };

async function imageFrom(t: Transport, ref: Reference, fetched: FetchedManifest, listed?: Platform): Promise<RemoteImage> {
  const manifest = parseImageManifest(fetched.bytes, fetched.mediaType);
  const configBytes = await readBlob(t, ref.repository, manifest.config.digest);
  const config = parseConfig(configBytes);
  const platform: Platform = listed ?? { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  return { ref, transport: t, manifestBytes: fetched.bytes, manifestDigest: fetched.digest, mediaType: fetched.mediaType, manifest, configBytes, config, platform };
}

/** Reads what a reference names: a single image, or an index (whose images load on demand). */
export async function loadTarget(pool: TransportPool, ref: Reference): Promise<RemoteTarget> {
  const t = pool.get(ref.registry);
  let fetched: FetchedManifest;
  try {
    fetched = await fetchManifest(t, ref.repository, manifestKey(ref));
  } catch (err) {
    throw new Error(`fetching ${formatReference(ref)}: ${(err as Error).message}`, { cause: err });
  }
  if (isIndexType(fetched.mediaType)) return { kind: "index", ref, transport: t, fetched, index: parseIndex(fetched.bytes) };
  return { kind: "image", image: await imageFrom(t, ref, fetched) };
}

/** The runnable platforms of a target, in index order. */
export function platformsOf(target: RemoteTarget): Platform[] {
  if (target.kind === "image") return [target.image.platform];
  return target.index.manifests.map((d) => d.platform).filter(isRunnablePlatform);
}

/** One platform's image of a target (a single image must match it when `want` is given). */
export async function imageFor(target: RemoteTarget, want?: Platform): Promise<RemoteImage> {
  if (target.kind === "image") {
    if (want && !platformMatches(target.image.platform, want)) {
      throw new ImageError(`${formatReference(target.image.ref)} is ${formatPlatform(target.image.platform)}, not ${formatPlatform(want)}`);
    }
    return target.image;
  }
  const runnable = target.index.manifests.filter((d) => isRunnablePlatform(d.platform));
  const wanted = want ?? hostPlatform();
  const entry = want === undefined && runnable.length === 1 ? runnable[0] : runnable.find((d) => platformMatches(d.platform, wanted));
  if (!entry) throw new ImageError(`${formatReference(target.ref)} has no image for ${formatPlatform(wanted)}`);
  const ref = withDigest(target.ref, entry.digest);
  const fetched = await fetchManifest(target.transport, ref.repository, entry.digest);
  return imageFrom(target.transport, ref, fetched, entry.platform);
}

export async function loadImage(pool: TransportPool, ref: Reference, want?: Platform): Promise<RemoteImage> {
  return imageFor(await loadTarget(pool, ref), want);
}

/** How errors name a layer: the image, the layer's index and its digest, in one phrase. */
export function layerName(image: RemoteImage, index: number): string {
  return `${formatReference(image.ref)} layer ${index} (${image.manifest.layers[index]?.digest ?? "?"})`;
}
