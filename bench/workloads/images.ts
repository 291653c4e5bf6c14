/**
 * Small, valid images for the metadata workloads: a gzipped tar layer and an OCI config whose
 * diff_ids match it, pushed once; manifests over them made distinct by an annotation.
 */
import { gzipSync } from "node:zlib";
import { pack } from "tar-stream";
import { sha256 } from "../data.js";
import { imageManifest, pushBytes, type Target } from "../protocol.js";

export interface Described {
  digest: string;
  size: number;
}

export interface ImageBlobs {
  config: Described;
  layer: Described;
}

/** An uncompressed tar of the given files (mtime 0, so equal inputs give equal bytes). */
export async function tarOf(files: Array<{ name: string; data: Buffer }>): Promise<Buffer> {
  const tar = pack();
  for (const file of files) tar.entry({ name: file.name, size: file.data.length, mode: 0o644, mtime: new Date(0) }, file.data);
  tar.finalize();
  const parts: Buffer[] = [];
  for await (const part of tar) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

export function describe(bytes: Buffer): Described {
  return { digest: sha256(bytes), size: bytes.length };
}

/** Pushes one layer and its config into `repo`, the blobs every manifest of the workload names. */
export async function seedImage(t: Target, repo: string): Promise<ImageBlobs> {
  const tar = await tarOf([{ name: "etc/bench", data: Buffer.from(`lading bench ${repo}\n`) }]);
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [sha256(tar)] }, history: [{ created_by: "bench" }] }),
  );
  const described = { config: describe(config), layer: describe(layer) };
  await pushBytes(t, repo, config, described.config.digest);
  await pushBytes(t, repo, layer, described.layer.digest);
  return described;
}

/** The `i`th of the distinct manifest bodies over `blobs`. */
export function distinctManifest(blobs: ImageBlobs, i: number): Buffer {
  return imageManifest(blobs.config, [blobs.layer], { "org.example.bench.index": String(i) });
}

/** Pushes the blobs and returns `count` distinct manifest bodies over them. */
export async function pushImageBlobs(t: Target, repo: string, count: number): Promise<Buffer[]> {
  const blobs = await seedImage(t, repo);
  return Array.from({ length: count }, (_, i) => distinctManifest(blobs, i));
}
