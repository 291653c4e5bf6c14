import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import type { ZodIssue } from "zod";
import { configSchema, type Config } from "./schema.js";

export type { Config } from "./schema.js";

/** A configuration that cannot be used; the CLI prints its message and exits with 2. */
export class ConfigError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export const envPrefix = "LADING_";

export interface ConfigSources {
  /** A YAML file in registry:2's config.yml format, with lading's own keys. */
  file?: string;
  /** Environment variables: `LADING_HTTP_ADDR=...` sets `http.addr` (registry:2's REGISTRY_ scheme). */
  env?: NodeJS.ProcessEnv;
  /** Settings from command-line flags, by dotted key; they win over everything else. */
  overrides?: Record<string, unknown>;
}

/** Defaults, then the file, then the environment, then flags; validated as a whole. */
export async function loadConfig(sources: ConfigSources = {}): Promise<Config> {
  let raw: Record<string, unknown> = {};
  if (sources.file !== undefined) raw = await readConfigFile(sources.file);
  const fromEnv = new Map<string, string>();
  for (const [name, value] of Object.entries(sources.env ?? {})) {
    if (!name.startsWith(envPrefix) || value === undefined) continue;
    const path = name.slice(envPrefix.length).toLowerCase().split("_");
    setPath(raw, path, parseScalar(value));
    fromEnv.set(path.join("."), name);
  }
  for (const [key, value] of Object.entries(sources.overrides ?? {})) {
    if (value !== undefined) setPath(raw, key.split("."), value);
  }
  const storage = (raw.storage ?? {}) as Record<string, unknown>;
  // A storage directory given on the command line replaces whatever driver the file chose.
  if (sources.overrides?.["storage.filesystem.rootdirectory"] !== undefined) {
    delete storage.inmemory;
    delete storage.s3;
  }
  // The filesystem driver at ./data unless another is named (other filesystem settings alone keep that root).
  const filesystem = storage.filesystem as Record<string, unknown> | undefined;
  if (storage.inmemory === undefined && storage.s3 === undefined && filesystem?.rootdirectory === undefined) setPath(raw, ["storage", "filesystem", "rootdirectory"], "./data");
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describe(result.error.issues[0]!, sources.file, fromEnv));
  return result.data;
}

async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new ConfigError(`config file ${file} must be a YAML mapping`);
  return doc as Record<string, unknown>;
}

/** One line naming the key, and the environment variable when one set it. */
function describe(issue: ZodIssue, file: string | undefined, fromEnv: Map<string, string>): string {
  const where = file === undefined ? "configuration" : `config ${file}`;
  const key = issue.path.join(".");
  const keys = issue.code === "unrecognized_keys" ? issue.keys.map((k) => (key === "" ? k : `${key}.${k}`)) : [key];
  const variables = [...fromEnv].filter(([path]) => keys.some((k) => k !== "" && (path === k || path.startsWith(`${k}.`)))).map(([, name]) => name);
  const via = variables.length > 0 ? ` (set by environment variable ${variables.join(", ")})` : "";
  if (issue.code === "unrecognized_keys") return `${where}: unknown key ${keys.join(", ")}${via}`;
  return `${where}: ${key === "" ? "" : `${key}: `}${issue.message}${via}`;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  const existing = node[last];
  // A section given whole (a flag that turns a feature on) keeps what the file said inside it.
  if (isPlainObject(value) && isPlainObject(existing)) node[last] = { ...existing, ...value };
  else node[last] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseScalar(value: string): unknown {
  try {
    const parsed: unknown = parseYaml(value);
    return parsed === null ? value : parsed;
  } catch {
    return value;
  }
}
