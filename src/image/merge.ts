import { openBlob, statBlob } from "../client/blobs.js";
import { putManifest } from "../client/manifests.js";
import { formatReference, manifestKey, type Reference } from "../client/reference.js";
import type { TransportPool } from "../client/transport.js";
import { bufferSource, uploadBlob } from "../client/upload.js";
import { digestOf } from "../oci/digest.js";
import { isNondistributable } from "../oci/mediatypes.js";
import { applyChanges, type ConfigChanges } from "./config-changes.js";
import { mergeConfigs } from "./config-merge.js";
import { ConflictAnalyzer } from "./conflicts.js";
import { checkLineage } from "./lineage.js";
import { conflictCount, type LayerStep, type MergeReport, type PlatformResult } from "./merge-report.js";
import { formatPlatform, platformMatches } from "./platform.js";
import { imageFor, layerName, loadTarget, platformsOf, type RemoteImage, type RemoteTarget } from "./remote.js";
import { inParallel } from "./parallel.js";
import { layerHeaders, type TarHeader } from "./layer-reader.js";
import { planBlob, transferBlob, type BlobLocation } from "./transfer.js";
import { canonicalBytes, familyOf, ImageError, indexTypeFor, type Descriptor, type ImageManifest, type Platform } from "./types.js";

export interface MergeOptions {
  base: Reference;
  sections: Reference[];
  target: Reference;
  pool: TransportPool;
  dryRun?: boolean;
  /** RFC 3339; fixes `created` so the same inputs give the same digest. */
  timestamp?: string;
  /** Stream section layers' tar headers and report overlaps (default true). */
  checkConflicts?: boolean;
  /** Any conflict stops the merge before anything is written (the report is then a dry run's). */
  strict?: boolean;
  /** Applied to the merged config (merge.yaml `config:`). */
  overrides?: ConfigChanges;
  /** Only these platforms of a multi-platform base. */
  platforms?: Platform[];
  /** Called as each blob is handled, for progress output. */
  onBlob?: (step: LayerStep | { digest: string; bytes: number; size: number; progress: true }) => void;
  concurrency?: number;
}

/**
 * Short, unique names for sections in reports: the repository's last component when that is unique
 * and is not "base", which names the base's layers in the same report.
 */
export function sectionLabels(refs: Reference[]): string[] {
  const last = refs.map((r) => r.repository.split("/").at(-1)!);
  return refs.map((r, i) => (last.filter((l) => l === last[i]).length === 1 && last[i] !== "base" ? last[i]! : formatReference(r)));
}

async function analyze(sections: { label: string; image: RemoteImage }[], baseLayers: number): Promise<{ analyzer: ConflictAnalyzer; notes: string[] }> {
  const analyzer = new ConflictAnalyzer();
  const notes: string[] = [];
  for (const { label, image } of sections) {
    const section = analyzer.section(label);
    for (const [index, layer] of image.manifest.layers.entries()) {
      if (index < baseLayers) continue;
      if (isNondistributable(layer.mediaType)) {
        notes.push(`section ${label}: ${layerName(image, index)} is non-distributable (its bytes are not in the registry): not checked for conflicts`);
        continue;
      }
      const headers: TarHeader[] = [];
      try {
        for await (const h of layerHeaders(openBlob(image.transport, image.ref.repository, layer.digest, layer.size))) headers.push(h);
      } catch (err) {
        throw new ImageError(`checking section ${label} for conflicts: ${layerName(image, index)}: ${(err as Error).message}; --no-check-conflicts merges without reading layers`, { cause: err });
      }
      section.layer(headers);
    }
  }
  return { analyzer, notes };
}

/** Merges one platform: checks, config, blobs, manifest (pushed by digest; the caller tags). */
async function mergePlatform(base: RemoteImage, sections: { label: string; image: RemoteImage }[], options: MergeOptions, created: string, tag: boolean): Promise<PlatformResult & { manifestBytes: Buffer; mediaType: string }> {
  checkLineage({ ...base, label: "the base" }, sections.map((s) => ({ ...s.image, label: `section ${s.label}` })));
  const merged = mergeConfigs(base.config, sections.map((s) => ({ label: s.label, config: s.image.config })), created);
  const config = options.overrides ? applyChanges(merged.config, options.overrides) : merged.config;
  const configBytes = canonicalBytes(config);
  const configDigest = digestOf(configBytes);

  const baseCount = base.manifest.layers.length;
  const layerSources: { layer: Descriptor; from: string; image: RemoteImage }[] = base.manifest.layers.map((layer) => ({ layer, from: "base", image: base }));
  for (const s of sections) for (const layer of s.image.manifest.layers.slice(baseCount)) layerSources.push({ layer, from: s.label, image: s.image });

  const family = familyOf(base.mediaType);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: base.mediaType,
    config: { mediaType: base.manifest.config.mediaType, digest: configDigest, size: configBytes.length },
    layers: layerSources.map((l) => l.layer),
  };
  if (family === "oci") manifest.annotations = { "org.opencontainers.image.base.name": formatReference(options.base), "org.opencontainers.image.base.digest": base.manifestDigest };
  const manifestBytes = canonicalBytes(manifest);
  const manifestDigest = digestOf(manifestBytes);

  const analysis = options.checkConflicts === false ? undefined : await analyze(sections, baseCount);
  const conflicts = analysis?.analyzer.conflicts() ?? [];
  const targetLoc: BlobLocation = { transport: options.pool.get(options.target.registry), repo: options.target.repository };
  const steps = await inParallel(layerSources.map((l, index) => ({ ...l, index })), options.concurrency ?? 4, async ({ layer, from, image, index }): Promise<LayerStep> => {
    const source: BlobLocation = { transport: image.transport, repo: image.ref.repository };
    const base = { index, digest: layer.digest, size: layer.size, mediaType: layer.mediaType, from };
    let step: LayerStep;
    if (options.dryRun) step = { ...base, action: await planBlob(source, targetLoc, layer.digest, layer.mediaType), bytes: 0 };
    else {
      const onProgress = (bytes: number) => options.onBlob?.({ digest: layer.digest, bytes, size: layer.size, progress: true });
      const done = await transferBlob(source, targetLoc, layer, { onProgress });
      step = { ...base, action: done.action, bytes: done.bytes };
    }
    options.onBlob?.(step);
    return step;
  });

  let configAction: PlatformResult["configAction"];
  const haveConfig = await statBlob(targetLoc.transport, targetLoc.repo, configDigest);
  if (options.dryRun) configAction = haveConfig ? "skip" : "upload";
  else if (haveConfig) configAction = "skipped";
  else {
    await uploadBlob(targetLoc.transport, targetLoc.repo, bufferSource(configBytes, configDigest));
    configAction = "uploaded";
  }
  if (!options.dryRun) await putManifest(targetLoc.transport, targetLoc.repo, tag ? manifestKey(options.target) : manifestDigest, manifestBytes, base.mediaType);
  return {
    platform: formatPlatform(base.platform),
    manifestDigest,
    configDigest,
    configSize: configBytes.length,
    configAction,
    layers: steps,
    conflicts,
    configConflicts: merged.conflicts,
    notes: analysis?.notes ?? [],
    manifestBytes,
    mediaType: base.mediaType,
  };
}

/**
 * `lading merge`: stacks each section's own layers onto BASE in TARGET, by mount where possible,
 * with a recomputed config; one manifest per platform, and an index when BASE has several.
 */
export async function merge(options: MergeOptions): Promise<MergeReport> {
  if (!options.strict || options.dryRun) return mergeOnce(options);
  const { onBlob: _progress, ...quiet } = options;
  const plan = await mergeOnce({ ...quiet, dryRun: true });
  if (conflictCount(plan) > 0) return plan;
  return mergeOnce({ ...options, checkConflicts: false });
}

async function mergeOnce(options: MergeOptions): Promise<MergeReport> {
  if (options.sections.length === 0) throw new ImageError("merge needs at least one section");
  const created = options.timestamp ?? new Date().toISOString();
  if (Number.isNaN(Date.parse(created))) throw new ImageError(`invalid timestamp ${created} (want RFC 3339, e.g. 2024-01-01T00:00:00Z)`);
  const [baseTarget, ...sectionTargets] = await Promise.all([options.base, ...options.sections].map((r) => loadTarget(options.pool, r)));
  const labels = sectionLabels(options.sections);
  let platforms: (Platform | undefined)[] = baseTarget!.kind === "image" ? [undefined] : platformsOf(baseTarget!);
  if (options.platforms && baseTarget!.kind === "index") platforms = platforms.filter((p) => options.platforms!.some((w) => platformMatches(p, w)));
  if (platforms.length === 0) throw new ImageError(`${formatReference(options.base)} has none of the requested platforms`);

  const results: Awaited<ReturnType<typeof mergePlatform>>[] = [];
  for (const want of platforms) {
    const base = await imageFor(baseTarget!, want);
    const sections = await Promise.all(sectionTargets.map(async (t: RemoteTarget, i) => ({ label: labels[i]!, image: await imageFor(t, base.platform) })));
    results.push(await mergePlatform(base, sections, options, created, baseTarget!.kind === "image"));
  }

  let digest = results[0]!.manifestDigest;
  let mediaType = results[0]!.mediaType;
  if (baseTarget!.kind === "index") {
    mediaType = indexTypeFor(familyOf(baseTarget!.fetched.mediaType));
    const index = {
      schemaVersion: 2,
      mediaType,
      manifests: results.map((r, i) => ({ mediaType: r.mediaType, digest: r.manifestDigest, size: r.manifestBytes.length, platform: platforms[i]! })),
    };
    const bytes = canonicalBytes(index);
    digest = digestOf(bytes);
    if (!options.dryRun) await putManifest(options.pool.get(options.target.registry), options.target.repository, manifestKey(options.target), bytes, mediaType);
  }
  return {
    target: formatReference(options.target),
    digest,
    mediaType,
    dryRun: options.dryRun === true,
    bytesMoved: results.reduce((n, r) => n + r.layers.reduce((m, l) => m + l.bytes, 0), 0),
    created,
    base: formatReference(options.base),
    sections: options.sections.map((r, i) => ({ label: labels[i]!, reference: formatReference(r) })),
    platforms: results.map(({ manifestBytes: _b, mediaType: _m, ...r }) => r),
  };
}
