import type { Command } from "commander";
import { loadConfig } from "../config/load.js";
import { usageError } from "./exit.js";

/** Flags that name the access-control files, shared by `lading user` and `lading token`. */
export interface AuthFileFlags {
  htpasswd?: string;
  groups?: string;
  robots?: string;
  config?: string;
}

export function authFileOptions(cmd: Command): Command {
  return cmd
    .option("--htpasswd <file>", "the htpasswd file of users (auth.htpasswd.path)")
    .option("--groups <file>", "users' groups (lading.auth.groups; default: the htpasswd file + .groups)")
    .option("--robots <file>", "robot tokens (lading.auth.robots; default: the htpasswd file + .robots)")
    .option("-c, --config <file>", "take the files from this config, as `lading serve` would (env: LADING_CONFIG)");
}

interface Resolved {
  htpasswd: string | undefined;
  groups: string | undefined;
  robots: string | undefined;
}

/**
 * The files as the server would find them: flags win over the config (which is read with the
 * LADING_* environment, like `lading serve` reads it), and groups and robots default to the
 * htpasswd path with `.groups` and `.robots` appended.
 */
async function resolve(flags: AuthFileFlags): Promise<Resolved> {
  const file = flags.config ?? process.env.LADING_CONFIG;
  let fromConfig: Resolved = { htpasswd: undefined, groups: undefined, robots: undefined };
  if (file !== undefined) {
    const env = { ...process.env };
    delete env.LADING_CONFIG;
    const config = await loadConfig({ file, env });
    fromConfig = { htpasswd: config.auth?.htpasswd?.path, groups: config.lading.auth.groups, robots: config.lading.auth.robots };
  } else if (flags.htpasswd === undefined && flags.robots === undefined) {
    throw usageError("name the files: --htpasswd FILE, or --config FILE (or LADING_CONFIG) to use the server's");
  }
  const htpasswd = flags.htpasswd ?? fromConfig.htpasswd;
  return {
    htpasswd,
    groups: flags.groups ?? fromConfig.groups ?? (htpasswd === undefined ? undefined : `${htpasswd}.groups`),
    robots: flags.robots ?? fromConfig.robots ?? (htpasswd === undefined ? undefined : `${htpasswd}.robots`),
  };
}

/** The htpasswd file and its groups file, for `lading user`. */
export async function userFiles(flags: AuthFileFlags): Promise<{ htpasswd: string; groups: string }> {
  const { htpasswd, groups } = await resolve(flags);
  if (htpasswd === undefined || groups === undefined) throw usageError("no htpasswd file: pass --htpasswd FILE, or a --config that names auth.htpasswd.path");
  return { htpasswd, groups };
}

/** The robot tokens file, for `lading token`. */
export async function robotsFile(flags: AuthFileFlags): Promise<string> {
  const { robots } = await resolve(flags);
  if (robots === undefined) throw usageError("no robots file: pass --robots FILE or --htpasswd FILE, or a --config that names lading.auth.robots or auth.htpasswd.path");
  return robots;
}
