import { mergeEnv } from "./env.js";
import { addedHistory, syntheticHistory } from "./history.js";
import type { ContainerConfig, HistoryEntry, ImageConfig } from "./types.js";

export interface SectionConfig {
  label: string;
  config: ImageConfig;
}

export interface ConfigConflict {
  /** `Env.KEY`, `Labels.KEY`, `Cmd`, … */
  field: string;
  values: { section: string; value: unknown }[];
  /** The section whose value the merged image keeps. */
  winner: string;
}

/** Fields one section's value replaces wholesale: the last section that set one wins. */
const lastWins = ["Cmd", "Entrypoint", "WorkingDir", "User", "StopSignal", "Healthcheck", "Shell"] as const;
/** Set-like maps: unioned. */
const unioned = ["ExposedPorts", "Volumes"] as const;

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * The merged image config: the base's, plus each section's added diff_ids and history in order, and
 * the runtime config merged field by field (a section "sets" a field when it differs from the base).
 * Pure: the same inputs and `created` give the same bytes, hence the same digest.
 */
export function mergeConfigs(base: ImageConfig, sections: SectionConfig[], created: string): { config: ImageConfig; conflicts: ConfigConflict[] } {
  const baseLayers = base.rootfs.diff_ids.length;
  const baseRun: ContainerConfig = base.config ?? {};
  const diffIds = [...base.rootfs.diff_ids];
  const history: HistoryEntry[] = base.history?.length ? [...base.history] : syntheticHistory(baseLayers, "base");
  const run: ContainerConfig = structuredClone(baseRun);
  const conflicts: ConfigConflict[] = [];

  for (const { label, config } of sections) {
    const added = config.rootfs.diff_ids.slice(baseLayers);
    diffIds.push(...added);
    history.push(...addedHistory(base, config, added.length, label));
  }

  const env = mergeEnv(baseRun.Env, sections.map((s) => ({ label: s.label, env: s.config.config?.Env })));
  if (env.env.length > 0) run.Env = env.env;
  for (const c of env.conflicts) conflicts.push({ field: `Env.${c.key}`, values: c.values, winner: c.values.at(-1)!.section });

  for (const field of lastWins) {
    const setters = sections
      .filter((s) => s.config.config !== undefined && field in s.config.config && !same(s.config.config[field], baseRun[field]))
      .map((s) => ({ section: s.label, value: s.config.config![field] }));
    const last = setters.at(-1);
    if (!last) continue;
    (run as Record<string, unknown>)[field] = last.value;
    if (setters.some((s) => !same(s.value, last.value))) conflicts.push({ field, values: setters, winner: last.section });
  }

  for (const field of unioned) {
    const union: Record<string, object> = { ...(baseRun[field] ?? {}) };
    for (const s of sections) Object.assign(union, ...Object.keys(s.config.config?.[field] ?? {}).map((k) => ({ [k]: {} })));
    if (Object.keys(union).length > 0) run[field] = union;
  }

  const labels: Record<string, string> = { ...(baseRun.Labels ?? {}) };
  const labelSetters = new Map<string, { section: string; value: string }[]>();
  for (const s of sections) {
    for (const [k, v] of Object.entries(s.config.config?.Labels ?? {})) {
      if (baseRun.Labels?.[k] === v) continue;
      labels[k] = v;
      labelSetters.set(k, [...(labelSetters.get(k) ?? []), { section: s.label, value: v }]);
    }
  }
  if (Object.keys(labels).length > 0) run.Labels = labels;
  for (const [k, values] of labelSetters) {
    if (new Set(values.map((v) => v.value)).size > 1) conflicts.push({ field: `Labels.${k}`, values, winner: values.at(-1)!.section });
  }

  // The base's build-container fields describe how the base was built, not this image: drop them.
  const { container: _container, container_config: _containerConfig, ...rest } = base;
  const config: ImageConfig = { ...structuredClone(rest), created, config: run, rootfs: { type: "layers", diff_ids: diffIds }, history };
  return { config, conflicts };
}
