import { Command } from "commander";
import { fetchManifest } from "../client/manifests.js";
import { manifestKey, parseReference } from "../client/reference.js";
import { poolFrom, registryOptions, type RegistryFlags } from "./options.js";

export function manifestCommand(): Command {
  return registryOptions(new Command("manifest").description("print an image's manifest (or index) exactly as stored").argument("<ref>")).action(async (text: string, flags: RegistryFlags) => {
    const ref = parseReference(text);
    const m = await fetchManifest(poolFrom(flags).get(ref.registry), ref.repository, manifestKey(ref));
    process.stdout.write(m.bytes);
    if (process.stdout.isTTY && !m.bytes.toString("utf8").endsWith("\n")) process.stdout.write("\n");
  });
}
