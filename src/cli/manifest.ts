import { Command } from "commander";
import { fetchManifest } from "../client/manifests.js";
import { formatReference, manifestKey, parseReference } from "../client/reference.js";
import { poolFrom, printJson, registryOptions, type RegistryFlags } from "./options.js";

export function manifestCommand(): Command {
  return registryOptions(new Command("manifest").description("print an image's manifest (or index) exactly as stored; --json wraps it with its digest, media type and size").argument("<ref>")).action(
    async (text: string, flags: RegistryFlags) => {
      const ref = parseReference(text);
      const m = await fetchManifest(poolFrom(flags).get(ref.registry), ref.repository, manifestKey(ref));
      if (flags.json) {
        printJson({ reference: formatReference(ref), digest: m.digest, mediaType: m.mediaType, size: m.bytes.length, manifest: JSON.parse(m.bytes.toString("utf8")) as unknown });
        return;
      }
      process.stdout.write(m.bytes);
      if (process.stdout.isTTY && !m.bytes.toString("utf8").endsWith("\n")) process.stdout.write("\n");
    },
  );
}
