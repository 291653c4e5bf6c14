import { mountBlob, statBlob } from "../client/blobs.js";
import type { Transport } from "../client/transport.js";
import { remoteSource, uploadBlob, type UploadOptions } from "../client/upload.js";
import { isNondistributable } from "../oci/mediatypes.js";

export interface BlobLocation {
  transport: Transport;
  repo: string;
}

/**
 * What happened to one blob: already there, mounted from another repository, its bytes copied, or
 * left where its URLs point (a non-distributable layer, which no registry is asked to hold).
 */
export type BlobAction = "skipped" | "mounted" | "copied" | "foreign";

export interface BlobTransfer {
  digest: string;
  size: number;
  action: BlobAction;
  /** Bytes sent to the target (0 unless copied). */
  bytes: number;
}

/** Progress of one blob as it moves (`progress`), then what was done with it; the CLI draws bars from these. */
export type BlobEvent = { digest: string; size: number; bytes: number; action: string } | { digest: string; size: number; bytes: number; progress: true };

export const sameRegistry = (a: BlobLocation, b: BlobLocation) => a.transport.registry === b.transport.registry;

/** What `transferBlob` would do, found without writing anything (for --dry-run). */
export async function planBlob(from: BlobLocation, to: BlobLocation, digest: string, mediaType?: string): Promise<"skip" | "mount" | "copy" | "foreign"> {
  if (mediaType !== undefined && isNondistributable(mediaType)) return "foreign";
  if (await statBlob(to.transport, to.repo, digest)) return "skip";
  return sameRegistry(from, to) ? "mount" : "copy";
}

/**
 * Makes a blob present in `to`: skip when it is there, mount within a registry, copy (streamed,
 * verified, resumable) across registries or when the registry refuses the mount.
 */
export async function transferBlob(
  from: BlobLocation,
  to: BlobLocation,
  blob: { digest: string; size: number; mediaType?: string },
  options: Pick<UploadOptions, "chunkSize" | "onProgress"> = {},
): Promise<BlobTransfer> {
  const { digest, size } = blob;
  if (blob.mediaType !== undefined && isNondistributable(blob.mediaType)) return { digest, size, action: "foreign", bytes: 0 };
  if (await statBlob(to.transport, to.repo, digest)) return { digest, size, action: "skipped", bytes: 0 };
  const upload: UploadOptions = { ...options };
  if (sameRegistry(from, to) && from.repo !== to.repo) {
    const mount = await mountBlob(to.transport, to.repo, digest, from.repo);
    if (mount.mounted) return { digest, size, action: "mounted", bytes: 0 };
    upload.location = mount.location;
  }
  await uploadBlob(to.transport, to.repo, remoteSource(from.transport, from.repo, digest, size), upload);
  return { digest, size, action: "copied", bytes: size };
}
