import type { Reference } from "../client/reference.js";
import type { TransportPool } from "../client/transport.js";
import { historyForLayers } from "./history.js";
import { formatPlatform } from "./platform.js";
import { imageFor, loadTarget, platformsOf } from "./remote.js";
import type { ContainerConfig, HistoryEntry, Platform } from "./types.js";
import { humanBytes } from "./human-bytes.js";

export interface ImageSummary {
  platform: string;
  manifestDigest: string;
  mediaType: string;
  configDigest: string;
  created: string | undefined;
  size: number;
  layers: { digest: string; size: number; mediaType: string; diffId: string | undefined; createdBy: string | undefined }[];
  config: ContainerConfig;
  history: HistoryEntry[];
}

export interface Inspection {
  digest: string;
  mediaType: string;
  platforms: string[];
  images: ImageSummary[];
}

/** Everything `inspect` shows: platforms, then per image its layers (with the step that made each), config and history. */
export async function inspectImage(pool: TransportPool, ref: Reference, platform?: Platform): Promise<Inspection> {
  const target = await loadTarget(pool, ref);
  const platforms = platformsOf(target);
  const wanted = platform ? [platform] : target.kind === "image" ? [undefined] : platforms;
  const images: ImageSummary[] = [];
  for (const want of wanted) {
    const image = await imageFor(target, want);
    const owners = historyForLayers(image.config);
    const history = image.config.history ?? [];
    images.push({
      platform: formatPlatform(image.platform),
      manifestDigest: image.manifestDigest,
      mediaType: image.mediaType,
      configDigest: image.manifest.config.digest,
      created: image.config.created,
      size: image.manifest.layers.reduce((n, l) => n + l.size, image.manifest.config.size),
      layers: image.manifest.layers.map((l, i) => {
        const h = owners[i];
        return { digest: l.digest, size: l.size, mediaType: l.mediaType, diffId: image.config.rootfs.diff_ids[i], createdBy: h === undefined ? undefined : history[h]?.created_by };
      }),
      config: image.config.config ?? {},
      history,
    });
  }
  const top = target.kind === "image" ? { digest: target.image.manifestDigest, mediaType: target.image.mediaType } : { digest: target.fetched.digest, mediaType: target.fetched.mediaType };
  return { ...top, platforms: platforms.map(formatPlatform), images };
}

export function formatInspection(i: Inspection): string {
  const out = [`digest     ${i.digest}`, `mediaType  ${i.mediaType}`, `platforms  ${i.platforms.join(", ")}`];
  for (const img of i.images) {
    out.push("", `${img.platform}  ${img.manifestDigest}  ${humanBytes(img.size)}${img.created ? `  created ${img.created}` : ""}`);
    out.push(`  layers (${img.layers.length}):`);
    img.layers.forEach((l, n) => out.push(`    ${String(n).padStart(2)} ${l.digest.slice(7, 19)} ${humanBytes(l.size).padStart(10)}  ${(l.createdBy ?? "").slice(0, 80)}`));
    const c = img.config;
    const fields: [string, unknown][] = [["Env", c.Env], ["Entrypoint", c.Entrypoint], ["Cmd", c.Cmd], ["WorkingDir", c.WorkingDir], ["User", c.User], ["ExposedPorts", c.ExposedPorts && Object.keys(c.ExposedPorts)], ["Volumes", c.Volumes && Object.keys(c.Volumes)], ["Labels", c.Labels]];
    const set = fields.filter(([, v]) => v !== undefined && v !== "" && v !== null && !(Array.isArray(v) && v.length === 0));
    out.push(set.length === 0 ? "  config: (none set)" : "  config:");
    for (const [k, v] of set) out.push(`    ${k.padEnd(12)} ${Array.isArray(v) ? v.join(k === "Env" ? "\n                 " : " ") : typeof v === "object" ? JSON.stringify(v) : String(v)}`);
    out.push(`  history (${img.history.length}):`);
    for (const h of img.history) out.push(`    ${h.empty_layer ? "     " : "layer"} ${(h.created ?? "").slice(0, 19).padEnd(19)} ${(h.created_by ?? h.comment ?? "").slice(0, 90)}`);
  }
  return out.join("\n");
}
