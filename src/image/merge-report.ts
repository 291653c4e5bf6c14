import type { ConfigConflict } from "./config-merge.js";
import type { Conflict } from "./conflicts.js";
import type { BlobAction } from "./transfer.js";
import { humanBytes } from "./human-bytes.js";
import { writtenLine } from "./written.js";

/** A planned action (dry run) or what was done. */
export type LayerAction = BlobAction | "skip" | "mount" | "copy";

export interface LayerStep {
  index: number;
  digest: string;
  size: number;
  mediaType: string;
  /** "base" or the section's label. */
  from: string;
  action: LayerAction;
  bytes: number;
}

export interface PlatformResult {
  platform: string;
  manifestDigest: string;
  configDigest: string;
  configSize: number;
  /** What happened to the config blob (it is new unless the same merge ran before). */
  configAction: "uploaded" | "skipped" | "upload" | "skip";
  layers: LayerStep[];
  conflicts: Conflict[];
  configConflicts: ConfigConflict[];
  /** What the merge could not check, and why (a layer whose bytes are elsewhere). */
  notes: string[];
}

export interface MergeReport {
  target: string;
  /** The digest TARGET resolves to: the manifest's, or the index's for a multi-platform base. */
  digest: string;
  mediaType: string;
  dryRun: boolean;
  /** Layer bytes sent to the registry: 0 when every layer was mounted or already there. */
  bytesMoved: number;
  created: string;
  /** The base image, as given. */
  base: string;
  sections: { label: string; reference: string }[];
  platforms: PlatformResult[];
}

export function conflictCount(report: MergeReport): number {
  return report.platforms.reduce((n, p) => n + p.conflicts.length + p.configConflicts.length, 0);
}

const short = (digest: string) => digest.replace(/^sha256:/, "").slice(0, 12);

/** The report as people read it: one line per layer, then conflicts, then the result. */
export function formatMergeReport(report: MergeReport): string {
  const lines: string[] = [];
  lines.push(`${report.dryRun ? "would merge" : "merging"} ${report.sections.map((s) => s.label).join(", ")} onto the base ${report.base}`);
  for (const p of report.platforms) {
    if (report.platforms.length > 1) lines.push(`platform ${p.platform}:`);
    for (const l of p.layers) {
      const moved = l.bytes > 0 ? ` (${humanBytes(l.bytes)} moved)` : "";
      lines.push(`  layer ${String(l.index).padStart(2)} ${short(l.digest)} ${humanBytes(l.size).padStart(10)}  ${l.from.padEnd(12)} ${l.action}${moved}`);
    }
    lines.push(`  config   ${short(p.configDigest)} ${humanBytes(p.configSize).padStart(10)}  ${"".padEnd(12)} ${p.configAction}`);
    for (const c of p.configConflicts) {
      lines.push(`  conflict: ${c.field} set by ${c.values.map((v) => `${v.section}=${JSON.stringify(v.value)}`).join(", ")}; ${c.winner} wins`);
    }
    for (const c of p.conflicts) lines.push(`  conflict (${c.kind}): ${c.message}`);
    for (const n of p.notes) lines.push(`  note: ${n}`);
  }
  const sources = `${report.base} + ${report.sections.map((s) => s.reference).join(", ")}`;
  if (report.dryRun) lines.push(`would merge ${sources} → ${report.target} (${report.digest}): nothing written`);
  else lines.push(writtenLine("merged", sources, report.target, report.digest, `${humanBytes(report.bytesMoved)} of layers moved`).trimEnd());
  return lines.join("\n");
}
