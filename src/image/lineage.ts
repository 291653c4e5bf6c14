import { historyMismatch, historyPrefixMismatch } from "./history.js";
import { formatPlatform } from "./platform.js";
import { count } from "./written.js";
import { familyOf, ImageError, type ImageConfig, type ImageManifest } from "./types.js";

/** What the merge checks know of an image; RemoteImage satisfies it, and so do test fixtures. */
export interface ImageParts {
  label: string;
  mediaType: string;
  manifest: ImageManifest;
  config: ImageConfig;
}

const familyPhrase = { docker: "a Docker", oci: "an OCI" } as const;
const platformOf = (c: ImageConfig) => formatPlatform({ os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) });

/**
 * Every way `section` can fail to be built on `base`, first mismatch per kind, with index and values.
 * Labels are phrases that name a role and cannot be mistaken for a repository ("the base",
 * "section maven"): a section whose repository is itself called base still reads clearly.
 */
export function lineageProblems(base: ImageParts, section: ImageParts): string[] {
  const problems: string[] = [];
  const s = section.label;
  const b = base.label;
  if (platformOf(base.config) !== platformOf(section.config)) {
    problems.push(`${s} is ${platformOf(section.config)} but ${b} is ${platformOf(base.config)}`);
  }
  if (familyOf(base.mediaType) !== familyOf(section.mediaType)) {
    problems.push(`${s} is ${familyPhrase[familyOf(section.mediaType)]} image (${section.mediaType}) but ${b} is ${familyPhrase[familyOf(base.mediaType)]} one (${base.mediaType})`);
  }
  const baseLayers = base.manifest.layers;
  const layers = section.manifest.layers;
  const i = baseLayers.findIndex((l, n) => n < layers.length && l.digest !== layers[n]!.digest);
  if (i >= 0) problems.push(`${s} layer ${i} is ${layers[i]!.digest} where ${b} has ${baseLayers[i]!.digest}: it was not built FROM ${b}`);
  else if (layers.length < baseLayers.length) problems.push(`${s} has ${count(layers.length, "layer")} where ${b} has ${baseLayers.length}: it was not built FROM ${b}`);
  const baseIds = base.config.rootfs.diff_ids;
  const ids = section.config.rootfs.diff_ids;
  const d = baseIds.findIndex((id, n) => ids[n] !== id);
  if (d >= 0) problems.push(`${s} diff_ids[${d}] is ${ids[d] ?? "(none)"} where ${b}'s is ${baseIds[d]}`);
  if (ids.length !== layers.length) problems.push(`${s} has ${count(layers.length, "layer")} but ${count(ids.length, "diff_id")}`);
  const h = historyPrefixMismatch(base.config.history ?? [], section.config.history ?? []);
  if (h && (section.config.history ?? []).length > 0) problems.push(`${s} history[${h.index}] is ${h.section} where ${b}'s is ${h.base}`);
  const hm = historyMismatch(section.config);
  if (hm) problems.push(`${s}: ${hm}`);
  if (familyOf(section.mediaType) === "docker") {
    const z = layers.findIndex((l) => l.mediaType.includes("zstd"));
    if (z >= 0) problems.push(`${s} layer ${z} is zstd-compressed (${layers[z]!.mediaType}), which only OCI images may carry`);
  }
  return problems;
}

/** The first problem of each section, in one line: the rest usually follow from it. */
export function lineageSummary(problems: string[]): string {
  return problems.length > 1 ? `${problems[0]} (and ${count(problems.length - 1, "more mismatch", "more mismatches")})` : (problems[0] ?? "");
}

export function checkLineage(base: ImageParts, sections: ImageParts[]): void {
  const problems = sections.map((s) => lineageProblems(base, s)).filter((p) => p.length > 0);
  if (problems.length > 0) throw new ImageError(`${problems.map(lineageSummary).join("; ")}; each section must be built FROM the base image (its layers, platform and media-type family), or merged onto the base it was built from`);
}
