import { Command } from "commander";
import { ClientError } from "../client/errors.js";
import { deleteManifest, statManifest } from "../client/manifests.js";
import { formatReference, manifestKey, parseReference } from "../client/reference.js";
import { poolFrom, printJson, registryOptions, type RegistryFlags } from "./options.js";

export function deleteCommand(): Command {
  return registryOptions(new Command("delete").description("delete a manifest (by the digest the reference resolves to; every tag on it goes)").argument("<ref>")).action(
    async (text: string, flags: RegistryFlags) => {
      const ref = parseReference(text);
      const t = poolFrom(flags).get(ref.registry);
      // Registries delete manifests by digest only: resolve a tag first.
      const head = await statManifest(t, ref.repository, manifestKey(ref));
      if (!head) throw new ClientError(`${formatReference(ref)}: manifest unknown`);
      await deleteManifest(t, ref.repository, head.digest);
      if (flags.json) printJson({ deleted: head.digest });
      else process.stdout.write(`deleted ${head.digest}\n`);
    },
  );
}
