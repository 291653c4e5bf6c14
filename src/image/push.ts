import { readFile } from "node:fs/promises";
import { statBlob } from "../client/blobs.js";
import { putManifest } from "../client/manifests.js";
import { formatReference, manifestKey, type Reference } from "../client/reference.js";
import type { Transport } from "../client/transport.js";
import { bufferSource, fileSource, uploadBlob, type BlobSource } from "../client/upload.js";
import { digestOf } from "../oci/digest.js";
import { isNondistributable, mediaTypes } from "../oci/mediatypes.js";
import { archivePath, extractArchive, selectEntry } from "./docker-archive.js";
import { makeLayer } from "./layer-file.js";
import { formatLocalRef, type LocalRef } from "./local-ref.js";
import { OciLayout } from "./oci-layout.js";
import { inParallel } from "./parallel.js";
import type { LocalTransferOptions, LocalTransferReport } from "./pull.js";
import { canonicalBytes, ImageError, isIndexType, parseConfig, parseImageManifest, parseIndex, type ImageManifest } from "./types.js";

type Blob = LocalTransferReport["blobs"][number];

/** Uploads a blob unless the repository has it; resumable, since the source reopens at any offset. */
async function pushBlob(t: Transport, repo: string, source: BlobSource, options: LocalTransferOptions): Promise<Blob> {
  let b: Blob;
  if (await statBlob(t, repo, source.digest)) b = { digest: source.digest, size: source.size, action: "skipped", bytes: 0 };
  else {
    const onProgress = (bytes: number) => options.onBlob?.({ digest: source.digest, size: source.size, bytes, progress: true });
    await uploadBlob(t, repo, source, { onProgress });
    b = { digest: source.digest, size: source.size, action: "uploaded", bytes: source.size };
  }
  options.onBlob?.(b);
  return b;
}

/** OCI layout → registry: blobs, then manifests children first, byte for byte, the top one under DST's tag. */
async function pushLayout(src: LocalRef, dst: Reference, options: LocalTransferOptions): Promise<LocalTransferReport> {
  const layout = await OciLayout.open(src.path);
  const t = options.pool.get(dst.registry);
  const blobs: Blob[] = [];
  let manifests = 0;
  const push = async (digest: string, mediaType: string, tag: string | undefined): Promise<void> => {
    const bytes = await layout.readBlob(digest);
    if (isIndexType(mediaType)) {
      for (const child of parseIndex(bytes).manifests) await push(child.digest, child.mediaType, undefined);
    } else {
      const image = parseImageManifest(bytes, mediaType);
      const todo = [image.config, ...image.layers].filter((d) => !isNondistributable(d.mediaType));
      for (const d of todo) if (!(await layout.hasBlob(d.digest, d.size))) throw new ImageError(`${src.path}: blob ${d.digest} of ${digest} is missing`);
      blobs.push(...(await inParallel(todo, options.concurrency ?? 4, (d) => pushBlob(t, dst.repository, fileSource(layout.blobPath(d.digest), d.digest, d.size), options))));
    }
    await putManifest(t, dst.repository, tag ?? digest, bytes, mediaType);
    manifests++;
  };
  const top = await layout.resolve(src.name);
  await push(top.digest, top.mediaType, dst.digest ? undefined : manifestKey(dst));
  return { source: formatLocalRef(src), destination: formatReference(dst), format: src.format, digest: top.digest, manifests, blobs, bytes: blobs.reduce((n, b) => n + b.bytes, 0) };
}

/**
 * `docker save` tarball → registry as a Docker schema 2 image: each layer.tar is gzipped (a gzip one
 * is kept), checked against the config's diff_ids, and uploaded; the config goes up byte for byte.
 */
async function pushArchive(src: LocalRef, dst: Reference, options: LocalTransferOptions): Promise<LocalTransferReport> {
  const archive = await extractArchive(src.path);
  try {
    const entry = selectEntry(archive, src.name, src.path);
    const configBytes = await readFile(archivePath(archive, entry.Config)).catch(() => {
      throw new ImageError(`${src.path}: config ${entry.Config} is missing`);
    });
    const config = parseConfig(configBytes);
    const ids = config.rootfs.diff_ids;
    if (ids.length !== entry.Layers.length) throw new ImageError(`${src.path}: ${entry.Layers.length} layers but the config has ${ids.length} diff_ids`);
    const t = options.pool.get(dst.registry);
    const layers = await inParallel(entry.Layers, options.concurrency ?? 2, async (name, i) => {
      const layer = await makeLayer(archivePath(archive, name));
      try {
        if (layer.diffId !== ids[i]) throw new ImageError(`${src.path}: ${name} is ${layer.diffId} but diff_ids[${i}] is ${ids[i]}`);
        const blob = await pushBlob(t, dst.repository, fileSource(layer.file, layer.digest, layer.size), options);
        return { blob, descriptor: { mediaType: mediaTypes.dockerLayerGzip, digest: layer.digest, size: layer.size } };
      } finally {
        await layer.cleanup();
      }
    });
    const configDigest = digestOf(configBytes);
    const configBlob = await pushBlob(t, dst.repository, bufferSource(configBytes, configDigest), options);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.dockerManifest,
      config: { mediaType: mediaTypes.dockerConfig, digest: configDigest, size: configBytes.length },
      layers: layers.map((l) => l.descriptor),
    };
    const bytes = canonicalBytes(manifest);
    const digest = await putManifest(t, dst.repository, manifestKey(dst), bytes, mediaTypes.dockerManifest);
    const blobs = [...layers.map((l) => l.blob), configBlob];
    return { source: formatLocalRef(src), destination: formatReference(dst), format: src.format, digest, manifests: 1, blobs, bytes: blobs.reduce((n, b) => n + b.bytes, 0) };
  } finally {
    await archive.cleanup();
  }
}

/** `lading push`: an image from an OCI layout or a docker save tarball into a registry. */
export function pushImage(src: LocalRef, dst: Reference, options: LocalTransferOptions): Promise<LocalTransferReport> {
  return src.format === "oci-layout" ? pushLayout(src, dst, options) : pushArchive(src, dst, options);
}
