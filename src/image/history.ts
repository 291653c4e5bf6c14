import type { HistoryEntry, ImageConfig } from "./types.js";

/** History entries are matched to layers by skipping `empty_layer` ones: the n-th non-empty entry made layer n. */
export function isEmptyLayer(entry: HistoryEntry): boolean {
  return entry.empty_layer === true;
}

export function layerCount(history: readonly HistoryEntry[]): number {
  return history.filter((h) => !isEmptyLayer(h)).length;
}

/**
 * For each layer, the index of the history entry that created it; undefined past the end when the
 * history has fewer non-empty entries than there are layers.
 */
export function historyForLayers(config: ImageConfig): (number | undefined)[] {
  const history = config.history ?? [];
  const out: (number | undefined)[] = [];
  history.forEach((h, i) => {
    if (!isEmptyLayer(h)) out.push(i);
  });
  const layers = config.rootfs.diff_ids.length;
  while (out.length < layers) out.push(undefined);
  return out.slice(0, layers);
}

/** Why a history does not describe its layers, or undefined when it does (or is absent, which the spec allows). */
export function historyMismatch(config: ImageConfig): string | undefined {
  if (config.history === undefined || config.history.length === 0) return undefined;
  const n = layerCount(config.history);
  const layers = config.rootfs.diff_ids.length;
  if (n === layers) return undefined;
  return `history has ${n} non-empty entries (of ${config.history.length}) but rootfs has ${layers} diff_ids`;
}

function sameEntry(a: HistoryEntry, b: HistoryEntry): boolean {
  return (
    a.created === b.created &&
    a.created_by === b.created_by &&
    a.author === b.author &&
    a.comment === b.comment &&
    (a.empty_layer === true) === (b.empty_layer === true)
  );
}

export interface PrefixMismatch {
  index: number;
  base: string;
  section: string;
}

/** An entry in a few words for a one-line message: the step that made it, shortened, never the whole JSON. */
function describe(entry: HistoryEntry | undefined): string {
  if (entry === undefined) return "(none)";
  const step = (entry.created_by ?? entry.comment ?? "").replace(/\s+/g, " ").trim();
  const short = step.length > 60 ? `${step.slice(0, 57)}...` : step;
  return `${JSON.stringify(short)}${entry.created ? ` of ${entry.created}` : ""}`;
}

/** The first entry where `history` stops repeating `prefix`, or undefined when it starts with all of it. */
export function historyPrefixMismatch(prefix: readonly HistoryEntry[], history: readonly HistoryEntry[]): PrefixMismatch | undefined {
  for (let i = 0; i < prefix.length; i++) {
    const p = prefix[i]!;
    const h = history[i];
    if (h === undefined || !sameEntry(p, h)) return { index: i, base: describe(p), section: describe(h) };
  }
  return undefined;
}

/**
 * The history a section adds on top of `baseHistory`, padded with synthetic entries when the section
 * recorded none, so that the merged history keeps exactly one non-empty entry per added layer.
 */
export function addedHistory(base: ImageConfig, section: ImageConfig, addedLayers: number, label: string): HistoryEntry[] {
  const added = historyAfter(section.history ?? [], base.history ?? [], base.rootfs.diff_ids.length);
  const missing = addedLayers - layerCount(added);
  if (missing <= 0) return added;
  return [...added, ...syntheticHistory(missing, label)];
}

/**
 * The entries of a section's history past its base: past the base's own entries when the base has a
 * history, else past the entry of the base's last layer.
 */
export function historyAfter(history: readonly HistoryEntry[], baseHistory: readonly HistoryEntry[], baseLayers: number): HistoryEntry[] {
  if (baseHistory.length > 0) return history.slice(baseHistory.length);
  let seen = 0;
  let i = 0;
  while (i < history.length && seen < baseLayers) {
    if (!isEmptyLayer(history[i]!)) seen++;
    i++;
  }
  return history.slice(i);
}

/** A history for layers that have none, so merged histories stay aligned with diff_ids. */
export function syntheticHistory(layers: number, label: string): HistoryEntry[] {
  return Array.from({ length: layers }, () => ({ created_by: `layer from ${label} (no history recorded)`, comment: "lading merge" }));
}
