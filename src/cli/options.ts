import { Command, Option } from "commander";
import { TransportPool } from "../client/transport.js";

/** Flags every command that talks to a registry shares. */
export interface RegistryFlags {
  insecure?: boolean;
  authfile?: string;
  json?: boolean;
}

export function registryOptions(cmd: Command): Command {
  return cmd
    .option("--insecure", "speak plain HTTP to the registries named (loopback always is)")
    .option("--authfile <path>", "read credentials from this file only (docker config.json or podman auth.json format)")
    .option("--json", "print the result as JSON");
}

export function poolFrom(flags: RegistryFlags): TransportPool {
  return new TransportPool({
    insecure: flags.insecure === true,
    ...(flags.authfile === undefined ? {} : { auth: { authFile: flags.authfile } }),
    onRetry: (err, attempt, delay) => {
      if (process.stderr.isTTY) process.stderr.write(`lading: retry ${attempt} in ${Math.round(delay)}ms: ${err.message}\n`);
    },
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export const platformOption = () => new Option("--platform <os/arch[/variant]>", "the platform to use from a multi-platform image");

/** Collects a repeatable option into a list. */
export const collectValues = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
