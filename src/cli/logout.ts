import { Command } from "commander";
import { eraseCredentials } from "../client/auth-config.js";
import { printJson } from "./options.js";

export function logoutCommand(): Command {
  return new Command("logout")
    .description("remove a registry's saved credentials")
    .argument("<registry>", "host[:port]")
    .option("--authfile <path>", "remove from this file instead")
    .option("--json", "print the result as JSON")
    .action(async (registry: string, flags: { authfile?: string; json?: boolean }) => {
      const removed = await eraseCredentials(registry, flags.authfile ? { authFile: flags.authfile } : {});
      if (flags.json) printJson({ registry, removed });
      else process.stdout.write(removed ? `Removed login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
    });
}
