import { Command } from "commander";
import { collect, listRepositories } from "../client/listing.js";
import { poolFrom, printJson, registryOptions, type RegistryFlags, positiveInteger } from "./options.js";

export function catalogCommand(): Command {
  return registryOptions(new Command("catalog").description("list a registry's repositories (all pages)").argument("<registry>", "host[:port]").option("--page-size <n>", "repositories per request", positiveInteger)).action(
    async (registry: string, flags: RegistryFlags & { pageSize?: number }) => {
      const repositories = await collect(listRepositories(poolFrom(flags).get(registry), flags.pageSize));
      if (flags.json) printJson({ repositories });
      else for (const r of repositories) process.stdout.write(`${r}\n`);
    },
  );
}
