import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rename, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { openBlob } from "../client/blobs.js";
import { fetchManifest } from "../client/manifests.js";
import { formatReference, manifestKey, type Reference } from "../client/reference.js";
import type { TransportPool } from "../client/transport.js";
import { isNondistributable } from "../oci/mediatypes.js";
import { packArchive } from "./docker-archive.js";
import { formatLocalRef, type LocalRef } from "./local-ref.js";
import { OciLayout } from "./oci-layout.js";
import { inParallel } from "./parallel.js";
import { platformMatches } from "./platform.js";
import { loadImage } from "./remote.js";
import { decompressed } from "./layer-reader.js";
import type { BlobEvent } from "./transfer.js";
import { ImageError, isIndexType, parseImageManifest, parseIndex, type Descriptor, type Platform } from "./types.js";

export interface LocalTransferOptions {
  pool: TransportPool;
  platform?: Platform;
  concurrency?: number;
  onBlob?: (e: BlobEvent) => void;
}

export interface LocalTransferReport {
  source: string;
  destination: string;
  format: LocalRef["format"];
  /** The top manifest's digest (for a docker archive, which has no manifest, the config's). */
  digest: string;
  manifests: number;
  blobs: { digest: string; size: number; action: "written" | "uploaded" | "skipped"; bytes: number }[];
  bytes: number;
}

type Blob = LocalTransferReport["blobs"][number];

function counter(digest: string, size: number, onBlob?: (e: BlobEvent) => void): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _e, done) {
      bytes += chunk.length;
      onBlob?.({ digest, size, bytes, progress: true });
      done(null, chunk);
    },
  });
}

/** Registry → OCI layout: manifests byte for byte (digests kept), every platform unless one is asked for. */
async function pullToLayout(src: Reference, dest: LocalRef, options: LocalTransferOptions): Promise<LocalTransferReport> {
  const t = options.pool.get(src.registry);
  const layout = await OciLayout.create(dest.path);
  const blobs: Blob[] = [];
  let manifests = 0;
  const fetchBlob = async (d: Descriptor): Promise<Blob> => {
    if (await layout.hasBlob(d.digest, d.size)) return { digest: d.digest, size: d.size, action: "skipped", bytes: 0 };
    await layout.writeBlob(d.digest, d.size, openBlob(t, src.repository, d.digest, d.size).pipe(counter(d.digest, d.size, options.onBlob)));
    return { digest: d.digest, size: d.size, action: "written", bytes: d.size };
  };
  const copy = async (ref: string): Promise<Descriptor> => {
    const m = await fetchManifest(t, src.repository, ref);
    if (isIndexType(m.mediaType)) {
      for (const child of parseIndex(m.bytes).manifests) await copy(child.digest);
    } else {
      const image = parseImageManifest(m.bytes, m.mediaType);
      const todo = [image.config, ...image.layers].filter((d) => !isNondistributable(d.mediaType));
      const done = await inParallel(todo, options.concurrency ?? 4, async (d) => {
        const b = await fetchBlob(d);
        options.onBlob?.(b);
        return b;
      });
      blobs.push(...done);
    }
    await layout.writeBlob(m.digest, m.bytes.length, Readable.from([m.bytes]));
    manifests++;
    return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
  };
  let top = manifestKey(src);
  if (options.platform) {
    const m = await fetchManifest(t, src.repository, top);
    if (isIndexType(m.mediaType)) {
      const entry = parseIndex(m.bytes).manifests.find((d) => platformMatches(d.platform, options.platform!));
      if (!entry) throw new ImageError(`${formatReference(src)} has no image for the requested platform`);
      top = entry.digest;
    }
  }
  const descriptor = await copy(top);
  await layout.setTag(dest.name ?? src.tag ?? "latest", descriptor);
  return { source: formatReference(src), destination: formatLocalRef({ ...dest, name: dest.name ?? src.tag ?? "latest" }), format: dest.format, digest: descriptor.digest, manifests, blobs, bytes: blobs.reduce((n, b) => n + b.bytes, 0) };
}

/**
 * Registry → `docker save` tarball: one platform, layers uncompressed (as docker stores them) and
 * each checked against its diff_id, the config byte for byte. Written to a temporary file, then renamed.
 */
async function pullToArchive(src: Reference, dest: LocalRef, options: LocalTransferOptions): Promise<LocalTransferReport> {
  const image = await loadImage(options.pool, src, options.platform);
  const work = await mkdtemp(path.join(os.tmpdir(), "lading-save-"));
  try {
    const ids = image.config.rootfs.diff_ids;
    if (ids.length !== image.manifest.layers.length) throw new ImageError(`${formatReference(src)} has ${image.manifest.layers.length} layers but ${ids.length} diff_ids`);
    const blobs = await inParallel(image.manifest.layers, options.concurrency ?? 4, async (layer, i): Promise<Blob> => {
      if (isNondistributable(layer.mediaType)) throw new ImageError(`layer ${i} is non-distributable: a docker archive must hold it`);
      const file = path.join(work, `${i}.tar`);
      const hash = createHash("sha256");
      const hashing = new Transform({ transform: (c: Buffer, _e, done) => (hash.update(c), done(null, c)) });
      await pipeline(await decompressed(openBlob(image.transport, image.ref.repository, layer.digest, layer.size).pipe(counter(layer.digest, layer.size, options.onBlob))), hashing, createWriteStream(file));
      const diffId = `sha256:${hash.digest("hex")}`;
      if (diffId !== ids[i]) throw new ImageError(`layer ${i} unpacks to ${diffId} but diff_ids[${i}] is ${ids[i]}`);
      const b: Blob = { digest: layer.digest, size: layer.size, action: "written", bytes: layer.size };
      options.onBlob?.(b);
      return b;
    });
    const name = dest.name ?? (src.tag ? `${src.registry}/${src.repository}:${src.tag}` : undefined);
    const archive = packArchive({
      configBytes: image.configBytes,
      configHex: image.manifest.config.digest.replace(/^sha256:/, ""),
      repoTags: name ? [name.lastIndexOf(":") > name.lastIndexOf("/") ? name : `${name}:latest`] : [],
      layers: ids.map((diffId, i) => ({ file: path.join(work, `${i}.tar`), diffId })),
    });
    const tmp = `${dest.path}.${process.pid}.partial`;
    try {
      await pipeline(archive, createWriteStream(tmp));
      await rename(tmp, dest.path);
    } finally {
      await rm(tmp, { force: true });
    }
    return { source: formatReference(src), destination: formatLocalRef(dest), format: dest.format, digest: image.manifestDigest, manifests: 1, blobs, bytes: blobs.reduce((n, b) => n + b.bytes, 0) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `lading pull`: an image from a registry into an OCI layout or a docker save tarball. */
export function pullImage(src: Reference, dest: LocalRef, options: LocalTransferOptions): Promise<LocalTransferReport> {
  return dest.format === "oci-layout" ? pullToLayout(src, dest, options) : pullToArchive(src, dest, options);
}
