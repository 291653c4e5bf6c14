import { digestOf } from "../../src/oci/digest.js";
import type { ContainerConfig, HistoryEntry, ImageConfig, ImageManifest } from "../../src/image/types.js";
import type { ImageParts } from "../../src/image/lineage.js";

const fake = (name: string) => digestOf(name);

/** An image config + manifest whose layers are named; history marks `ENV`-like steps as empty layers. */
export function image(label: string, steps: (string | { empty: string })[], run: ContainerConfig = {}, mediaType = "application/vnd.oci.image.manifest.v1+json"): ImageParts {
  const layers = steps.filter((s): s is string => typeof s === "string");
  const history: HistoryEntry[] = steps.map((s) => (typeof s === "string" ? { created_by: `ADD ${s}` } : { created_by: s.empty, empty_layer: true }));
  const config: ImageConfig = { architecture: "amd64", os: "linux", config: run, rootfs: { type: "layers", diff_ids: layers.map((l) => fake(`diff ${l}`)) }, history };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: fake(`config ${label}`), size: 1 },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: fake(`blob ${l}`), size: 10 })),
  };
  return { label, mediaType, manifest, config };
}
