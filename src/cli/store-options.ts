import type { Command } from "commander";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { usageError } from "./exit.js";

/** How a maintenance command (gc, fsck) names the store it works on. */
export interface StoreFlags {
  config?: string;
  storage?: string;
}

export function storeOptions(cmd: Command): Command {
  return cmd
    .option("-c, --config <file>", "the server's config file (env: LADING_CONFIG)")
    .option("-s, --storage <dir>", "filesystem storage root (storage.filesystem.rootdirectory)");
}

/** The config of the store the flags name: the server's file, with `--storage` over it. */
export async function storeConfig(flags: StoreFlags): Promise<Config> {
  const file = flags.config ?? process.env.LADING_CONFIG;
  if (file === undefined && flags.storage === undefined) throw usageError("name the store: --storage DIR, or --config FILE (or LADING_CONFIG)");
  const env = { ...process.env };
  delete env.LADING_CONFIG;
  const overrides: Record<string, unknown> = {};
  if (flags.storage !== undefined) overrides["storage.filesystem.rootdirectory"] = flags.storage;
  return loadConfig({ ...(file === undefined ? {} : { file }), env, overrides });
}
