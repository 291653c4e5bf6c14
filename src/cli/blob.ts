import { Command } from "commander";
import { pipeline } from "node:stream/promises";
import { openBlob } from "../client/blobs.js";
import { parseReference } from "../client/reference.js";
import { usageError } from "./exit.js";
import { poolFrom, registryOptions, type RegistryFlags } from "./options.js";

export function blobCommand(): Command {
  return registryOptions(new Command("blob").description("write a blob to stdout, verified against its digest as it streams").argument("<repo@digest>")).action(
    async (text: string, flags: RegistryFlags) => {
      const ref = parseReference(text);
      if (!ref.digest) throw usageError("blob needs REPOSITORY@DIGEST");
      await pipeline(openBlob(poolFrom(flags).get(ref.registry), ref.repository, ref.digest), process.stdout);
    },
  );
}
