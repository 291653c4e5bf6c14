import { Command } from "commander";
import { fetchManifest, putManifest } from "../client/manifests.js";
import { isValidTag } from "../oci/reference.js";
import { formatReference, manifestKey, parseReference, withTag } from "../client/reference.js";
import { usageError } from "./exit.js";
import { poolFrom, printJson, registryOptions, type RegistryFlags } from "./options.js";
import { writtenLine } from "../image/written.js";

export function tagCommand(): Command {
  return registryOptions(new Command("tag").description("give an image another tag in its repository (no blobs move)").argument("<ref>").argument("<tag>")).action(
    async (text: string, tag: string, flags: RegistryFlags) => {
      if (!isValidTag(tag)) throw usageError(`invalid tag ${JSON.stringify(tag)}`);
      const ref = parseReference(text);
      const t = poolFrom(flags).get(ref.registry);
      const m = await fetchManifest(t, ref.repository, manifestKey(ref));
      await putManifest(t, ref.repository, tag, m.bytes, m.mediaType);
      const result = { reference: formatReference(withTag(ref, tag)), digest: m.digest };
      if (flags.json) printJson(result);
      else process.stdout.write(writtenLine("tagged", formatReference(ref), result.reference, result.digest, "no blobs moved"));
    },
  );
}
