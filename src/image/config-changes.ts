import { formatEnv, parseEnv } from "./env.js";
import type { ImageConfig } from "./types.js";

/** Edits to an image config, as `mutate` flags and merge.yaml `config:` give them. */
export interface ConfigChanges {
  /** KEY=value entries; a value of undefined (from `KEY-`) removes the key. */
  env?: Record<string, string | undefined>;
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  workdir?: string;
  user?: string;
  labels?: Record<string, string | undefined>;
  exposedPorts?: string[];
  volumes?: string[];
  stopSignal?: string;
  os?: string;
  architecture?: string;
  variant?: string;
  author?: string;
}

/** Applies changes to a copy of `config`; runtime fields live under `config.config`. */
export function applyChanges(config: ImageConfig, changes: ConfigChanges): ImageConfig {
  const out = structuredClone(config);
  const run = (out.config ??= {});
  if (changes.env) {
    const env = parseEnv(run.Env);
    for (const [k, v] of Object.entries(changes.env)) {
      if (v === undefined) env.delete(k);
      else env.set(k, v);
    }
    run.Env = formatEnv(env);
  }
  if (changes.entrypoint !== undefined) run.Entrypoint = changes.entrypoint;
  if (changes.cmd !== undefined) run.Cmd = changes.cmd;
  if (changes.workdir !== undefined) run.WorkingDir = changes.workdir;
  if (changes.user !== undefined) run.User = changes.user;
  if (changes.stopSignal !== undefined) run.StopSignal = changes.stopSignal;
  if (changes.labels) {
    const labels = { ...(run.Labels ?? {}) };
    for (const [k, v] of Object.entries(changes.labels)) {
      if (v === undefined) delete labels[k];
      else labels[k] = v;
    }
    run.Labels = labels;
  }
  for (const port of changes.exposedPorts ?? []) (run.ExposedPorts ??= {})[port.includes("/") ? port : `${port}/tcp`] = {};
  for (const volume of changes.volumes ?? []) (run.Volumes ??= {})[volume] = {};
  if (changes.os !== undefined) out.os = changes.os;
  if (changes.architecture !== undefined) out.architecture = changes.architecture;
  if (changes.variant !== undefined) out.variant = changes.variant;
  if (changes.author !== undefined) out.author = changes.author;
  return out;
}
