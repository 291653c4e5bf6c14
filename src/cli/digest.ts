import { Command } from "commander";
import { statManifest } from "../client/manifests.js";
import { formatReference, manifestKey, parseReference } from "../client/reference.js";
import { ClientError } from "../client/errors.js";
import { poolFrom, printJson, registryOptions, type RegistryFlags } from "./options.js";

export function digestCommand(): Command {
  return registryOptions(new Command("digest").description("print the digest an image reference resolves to").argument("<ref>")).action(async (text: string, flags: RegistryFlags) => {
    const ref = parseReference(text);
    const head = await statManifest(poolFrom(flags).get(ref.registry), ref.repository, manifestKey(ref));
    if (!head) throw new ClientError(`${formatReference(ref)}: manifest unknown`);
    if (flags.json) printJson(head);
    else process.stdout.write(`${head.digest}\n`);
  });
}
