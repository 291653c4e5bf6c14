import { historyMismatch, historyPrefixMismatch } from "./history.js";
import { formatPlatform } from "./platform.js";
import { familyOf, ImageError, type ImageConfig, type ImageManifest } from "./types.js";

/** What the merge checks know of an image; RemoteImage satisfies it, and so do test fixtures. */
export interface ImageParts {
  label: string;
  mediaType: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

const platformOf = (c: ImageConfig) => formatPlatform({ os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) });

/** Every way `section` can fail to be built on `base`, first mismatch per kind, with index and values. */
export function lineageProblems(base: ImageParts, section: ImageParts): string[] {
  const problems: string[] = [];
  const s = section.label;
  if (platformOf(base.config) !== platformOf(section.config)) {
    problems.push(`${s} is ${platformOf(section.config)} but base is ${platformOf(base.config)}`);
  }
  if (familyOf(base.mediaType) !== familyOf(section.mediaType)) {
    problems.push(`${s} is a ${familyOf(section.mediaType)} image (${section.mediaType}) but base is ${familyOf(base.mediaType)} (${base.mediaType})`);
  }
  const baseLayers = base.manifest.layers;
  const layers = section.manifest.layers;
  const i = baseLayers.findIndex((l, n) => n < layers.length && l.digest !== layers[n]!.digest);
  if (i >= 0) problems.push(`${s} layer ${i} is ${layers[i]!.digest} but base layer ${i} is ${baseLayers[i]!.digest}: ${s} was not built on this base`);
  else if (layers.length < baseLayers.length) problems.push(`${s} has ${layers.length} layers, fewer than base's ${baseLayers.length}`);
  const baseIds = base.config.rootfs.diff_ids;
  const ids = section.config.rootfs.diff_ids;
  const d = baseIds.findIndex((id, n) => ids[n] !== id);
  if (d >= 0) problems.push(`${s} diff_ids[${d}] is ${ids[d] ?? "(none)"} but base diff_ids[${d}] is ${baseIds[d]}`);
  if (ids.length !== layers.length) problems.push(`${s} has ${layers.length} layers but ${ids.length} diff_ids`);
  const h = historyPrefixMismatch(base.config.history ?? [], section.config.history ?? []);
  if (h && (section.config.history ?? []).length > 0) problems.push(`${s} history[${h.index}] is ${h.section} but base history[${h.index}] is ${h.base}`);
  const hm = historyMismatch(section.config);
  if (hm) problems.push(`${s}: ${hm}`);
  if (familyOf(section.mediaType) === "docker") {
    const z = layers.findIndex((l) => l.mediaType.includes("zstd"));
    if (z >= 0) problems.push(`${s} layer ${z} is zstd-compressed (${layers[z]!.mediaType}), which only OCI images may carry`);
  }
  return problems;
}

export function checkLineage(base: ImageParts, sections: ImageParts[]): void {
  const problems = sections.flatMap((s) => lineageProblems(base, s));
  if (problems.length > 0) throw new ImageError(problems.join("; "));
}
