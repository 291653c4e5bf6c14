import { Command } from "commander";
import { collect, listTags } from "../client/listing.js";
import { parseReference } from "../client/reference.js";
import { poolFrom, printJson, registryOptions, type RegistryFlags, positiveInteger } from "./options.js";

export function lsCommand(): Command {
  return registryOptions(new Command("ls").description("list a repository's tags (all pages)").argument("<repository>").option("--page-size <n>", "tags per request", positiveInteger)).action(
    async (text: string, flags: RegistryFlags & { pageSize?: number }) => {
      const ref = parseReference(text);
      const tags = await collect(listTags(poolFrom(flags).get(ref.registry), ref.repository, flags.pageSize));
      if (flags.json) printJson({ name: ref.repository, tags });
      else for (const t of tags) process.stdout.write(`${t}\n`);
    },
  );
}
