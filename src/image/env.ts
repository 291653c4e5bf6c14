/** `KEY=value` lists as an ordered map; an entry without `=` is a key with an empty value (as docker treats it). */
export function parseEnv(env: readonly string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of env ?? []) {
    const eq = entry.indexOf("=");
    if (eq < 0) out.set(entry, "");
    else out.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return out;
}

export function formatEnv(env: ReadonlyMap<string, string>): string[] {
  return [...env].map(([k, v]) => `${k}=${v}`);
}

function entries(path: string): string[] {
  return path.split(":").filter((p) => p !== "");
}

/**
 * Joins one section's PATH into the merged PATH without duplicates. Entries the section put before
 * the base's go in front (later sections ahead of earlier ones, as the later wins elsewhere); entries
 * it put after go at the end.
 */
export function joinPath(merged: string, base: string, section: string): string {
  const baseSet = new Set(entries(base));
  const have = new Set(entries(merged));
  const list = entries(section);
  const firstBase = list.findIndex((p) => baseSet.has(p));
  const split = firstBase < 0 ? list.length : firstBase;
  const front = list.slice(0, split).filter((p) => !have.has(p));
  const frontSet = new Set(front);
  const back = list.slice(split).filter((p) => !have.has(p) && !frontSet.has(p) && !baseSet.has(p));
  return [...new Set([...front, ...entries(merged), ...back])].join(":");
}

export interface EnvConflict {
  key: string;
  /** Section labels and the values they set, in merge order; the last one wins. */
  values: { section: string; value: string }[];
}

/**
 * Merges sections' Env over the base's. A section "sets" a key when its value differs from the base's
 * (everything else it merely inherited). Later sections win; two sections setting one key differently
 * is a conflict to report. PATH is joined instead of replaced.
 */
export function mergeEnv(base: readonly string[] | undefined, sections: { label: string; env: readonly string[] | undefined }[]): { env: string[]; conflicts: EnvConflict[] } {
  const baseEnv = parseEnv(base);
  const merged = new Map(baseEnv);
  const setters = new Map<string, { section: string; value: string }[]>();
  for (const { label, env } of sections) {
    for (const [key, value] of parseEnv(env)) {
      if (baseEnv.get(key) === value) continue;
      if (key === "PATH") {
        merged.set(key, joinPath(merged.get(key) ?? "", baseEnv.get(key) ?? "", value));
        continue;
      }
      merged.set(key, value);
      const list = setters.get(key) ?? [];
      list.push({ section: label, value });
      setters.set(key, list);
    }
  }
  const conflicts = [...setters]
    .filter(([, values]) => new Set(values.map((v) => v.value)).size > 1)
    .map(([key, values]) => ({ key, values }));
  return { env: formatEnv(merged), conflicts };
}
