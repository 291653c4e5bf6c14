import { fetchManifest, putManifestDetailed } from "../client/manifests.js";
import { formatReference, manifestKey, type Reference } from "../client/reference.js";
import { addReferrerToFallback, listReferrers } from "../client/referrers.js";
import type { TransportPool } from "../client/transport.js";
import { isNondistributable } from "../oci/mediatypes.js";
import { platformMatches } from "./platform.js";
import { transferBlob, type BlobEvent, type BlobLocation, type BlobTransfer } from "./transfer.js";
import { ImageError, isIndexType, parseImageManifest, parseIndex, type Descriptor, type Platform } from "./types.js";

export interface CopyOptions {
  src: Reference;
  dst: Reference;
  pool: TransportPool;
  /** Only this platform of an index (the result is then that single image). */
  platform?: Platform;
  /** Also copy manifests whose subject is a copied manifest (signatures, SBOMs). */
  referrers?: boolean;
  concurrency?: number;
  /** Bytes as each blob moves, then what was done with it (for progress bars). */
  onBlob?: (e: BlobEvent) => void;
}

export interface CopyReport {
  source: string;
  target: string;
  digest: string;
  manifests: number;
  blobs: BlobTransfer[];
  bytesMoved: number;
}

/** A manifest's subject digest, when it refers to another manifest (a signature, an SBOM). */
function subjectOf(bytes: Buffer): string | undefined {
  const json = JSON.parse(bytes.toString("utf8")) as { subject?: { digest?: unknown } };
  return typeof json.subject?.digest === "string" ? json.subject.digest : undefined;
}

/** The descriptor a referrers listing gives for a manifest: its artifactType (or config type) and annotations. */
function referrerDescriptor(bytes: Buffer, mediaType: string, digest: string): Descriptor {
  const json = JSON.parse(bytes.toString("utf8")) as { artifactType?: unknown; config?: { mediaType?: unknown }; annotations?: Record<string, string> };
  const artifactType = typeof json.artifactType === "string" ? json.artifactType : typeof json.config?.mediaType === "string" ? json.config.mediaType : undefined;
  return { mediaType, digest, size: bytes.length, ...(artifactType ? { artifactType } : {}), ...(json.annotations ? { annotations: json.annotations } : {}) };
}

/**
 * Copies an image, index or artifact: blobs first (skipped when present, mounted within a registry,
 * else streamed), then manifests children-first, the top one under DST's tag. Manifest bytes are
 * copied exactly, so digests are preserved.
 */
export async function copyImage(options: CopyOptions): Promise<CopyReport> {
  const from: BlobLocation = { transport: options.pool.get(options.src.registry), repo: options.src.repository };
  const to: BlobLocation = { transport: options.pool.get(options.dst.registry), repo: options.dst.repository };
  const blobs: BlobTransfer[] = [];
  let manifests = 0;
  const done = new Set<string>();

  const copyBlobs = async (descriptors: { digest: string; size: number; mediaType: string }[]) => {
    const todo = descriptors.filter((d) => !isNondistributable(d.mediaType) && !done.has(d.digest));
    for (const d of todo) done.add(d.digest);
    let next = 0;
    const worker = async () => {
      while (next < todo.length) {
        const d = todo[next++]!;
        const t = await transferBlob(from, to, d, { onProgress: (bytes) => options.onBlob?.({ digest: d.digest, size: d.size, bytes, progress: true }) });
        blobs.push(t);
        options.onBlob?.(t);
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, todo.length) }, worker));
  };

  const copyManifest = async (ref: string, tag: string | undefined): Promise<string> => {
    const m = await fetchManifest(from.transport, from.repo, ref);
    if (isIndexType(m.mediaType)) {
      for (const child of parseIndex(m.bytes).manifests) await copyManifest(child.digest, undefined);
    } else {
      const image = parseImageManifest(m.bytes, m.mediaType);
      await copyBlobs([image.config, ...image.layers]);
    }
    const put = await putManifestDetailed(to.transport, to.repo, tag ?? m.digest, m.bytes, m.mediaType);
    manifests++;
    const subject = subjectOf(m.bytes);
    if (subject && !put.subjectIndexed) await addReferrerToFallback(to.transport, to.repo, subject, referrerDescriptor(m.bytes, m.mediaType, m.digest));
    if (options.referrers) {
      for (const r of await listReferrers(from.transport, from.repo, m.digest)) {
        if (!done.has(r.digest)) {
          done.add(r.digest);
          await copyManifest(r.digest, undefined);
        }
      }
    }
    return m.digest;
  };

  let top = manifestKey(options.src);
  if (options.platform) {
    const m = await fetchManifest(from.transport, from.repo, top);
    if (isIndexType(m.mediaType)) {
      const entry = parseIndex(m.bytes).manifests.find((d) => platformMatches(d.platform, options.platform!));
      if (!entry) throw new ImageError(`${formatReference(options.src)} has no image for the requested platform`);
      top = entry.digest;
    }
  }
  const digest = await copyManifest(top, options.dst.digest ? undefined : manifestKey(options.dst));
  return {
    source: formatReference(options.src),
    target: formatReference(options.dst),
    digest,
    manifests,
    blobs,
    bytesMoved: blobs.reduce((n, b) => n + b.bytes, 0),
  };
}
