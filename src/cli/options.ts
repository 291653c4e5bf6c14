import { Command, InvalidArgumentError, Option } from "commander";
import { TransportPool } from "../client/transport.js";
import { parsePlatform } from "../image/platform.js";

/** Flags every command that talks to a registry shares. */
export interface RegistryFlags {
  insecure?: boolean;
  insecureRegistry?: string[];
  authfile?: string;
  json?: boolean;
}

export function registryOptions(cmd: Command): Command {
  return cmd
    .option("--insecure", "plain HTTP to every registry this command names (loopback always is)")
    .option("--insecure-registry <host[:port]>", "plain HTTP to this registry only (repeatable)", collectValues)
    .option("--authfile <path>", "read credentials from this file only (docker config.json or podman auth.json format)")
    .option("--json", "print the result as JSON");
}

/** `--insecure`: every registry; `--insecure-registry`: those named; neither: HTTPS except loopback. */
export function insecureFrom(flags: Pick<RegistryFlags, "insecure" | "insecureRegistry">): boolean | string[] {
  return flags.insecure === true ? true : (flags.insecureRegistry ?? []);
}

export function poolFrom(flags: RegistryFlags): TransportPool {
  return new TransportPool({
    insecure: insecureFrom(flags),
    ...(flags.authfile === undefined ? {} : { auth: { authFile: flags.authfile } }),
    onRetry: (err, attempt, delay) => {
      if (process.stderr.isTTY) process.stderr.write(`lading: retry ${attempt} in ${Math.round(delay)}ms: ${err.message}\n`);
    },
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export const platformOption = () => new Option("--platform <os/arch[/variant]>", "the platform to use from a multi-platform image").argParser(platformArgument);

/** A platform flag's value, checked as it is read: a malformed one is a usage error (exit 2). */
export function platformArgument(value: string): string {
  try {
    parsePlatform(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

/** A count flag (`--jobs`, `--page-size`): a whole number of at least 1, or a usage error. */
export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a whole number of at least 1`);
  return n;
}

/** Collects a repeatable option into a list. */
export const collectValues = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** `--timestamp`: an RFC 3339 time, checked as the flag is read (a bad one is a usage error, exit 2). */
export const timestampOption = (description: string) =>
  new Option("--timestamp <rfc3339>", description).argParser((value: string) => {
    if (!rfc3339.test(value) || Number.isNaN(Date.parse(value))) throw new InvalidArgumentError(`${JSON.stringify(value)} is not an RFC 3339 time (e.g. 2024-01-01T00:00:00Z)`);
    return value;
  });
