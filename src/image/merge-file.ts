import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import type { ConfigChanges } from "./config-changes.js";
import { ImageError } from "./types.js";

const stringList = z.array(z.string());
const schema = z
  .object({
    base: z.string().min(1),
    sections: z.array(z.string().min(1)).min(1),
    target: z.string().min(1),
    timestamp: z.union([z.string(), z.date()]).optional(),
    platforms: stringList.optional(),
    checkConflicts: z.boolean().optional(),
    strict: z.boolean().optional(),
    config: z
      .object({
        env: z.union([z.record(z.union([z.string(), z.number(), z.boolean()])), stringList]).optional(),
        labels: z.record(z.string()).optional(),
        entrypoint: stringList.nullable().optional(),
        cmd: stringList.nullable().optional(),
        workdir: z.string().optional(),
        user: z.string().optional(),
        exposedPorts: z.array(z.union([z.string(), z.number()])).optional(),
        volumes: stringList.optional(),
        stopSignal: z.string().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** The declarative form of `lading merge`, as read from merge.yaml. */
export interface MergeFile {
  base: string;
  sections: string[];
  target: string;
  timestamp?: string;
  platforms?: string[];
  checkConflicts?: boolean;
  strict?: boolean;
  config?: ConfigChanges;
}

export function parseMergeFile(text: string, where = "merge.yaml"): MergeFile {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ImageError(`${where} is not valid YAML: ${(err as Error).message}`);
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ImageError(`${where}: ${issue.path.join(".") || "(top level)"}: ${issue.message}`);
  }
  const m = result.data;
  const out: MergeFile = { base: m.base, sections: m.sections, target: m.target };
  // YAML turns an unquoted timestamp into a Date; either form is accepted.
  if (m.timestamp !== undefined) out.timestamp = m.timestamp instanceof Date ? m.timestamp.toISOString().replace(".000Z", "Z") : m.timestamp;
  if (m.platforms) out.platforms = m.platforms;
  if (m.checkConflicts !== undefined) out.checkConflicts = m.checkConflicts;
  if (m.strict !== undefined) out.strict = m.strict;
  if (m.config) {
    const c = m.config;
    const changes: ConfigChanges = {};
    if (c.env) {
      changes.env = Array.isArray(c.env)
        ? Object.fromEntries(c.env.map((e) => [e.split("=")[0]!, e.slice(e.indexOf("=") + 1)]))
        : Object.fromEntries(Object.entries(c.env).map(([k, v]) => [k, String(v)]));
    }
    if (c.labels) changes.labels = c.labels;
    if (c.entrypoint !== undefined) changes.entrypoint = c.entrypoint;
    if (c.cmd !== undefined) changes.cmd = c.cmd;
    if (c.workdir !== undefined) changes.workdir = c.workdir;
    if (c.user !== undefined) changes.user = c.user;
    if (c.exposedPorts) changes.exposedPorts = c.exposedPorts.map(String);
    if (c.volumes) changes.volumes = c.volumes;
    if (c.stopSignal !== undefined) changes.stopSignal = c.stopSignal;
    out.config = changes;
  }
  return out;
}

export async function readMergeFile(file: string): Promise<MergeFile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ImageError(`reading ${file}: ${(err as Error).message}`);
  }
  return parseMergeFile(text, file);
}
