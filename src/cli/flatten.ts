import { Command } from "commander";
import { formatReference, parseReference } from "../client/reference.js";
import { flattenImage } from "../image/flatten.js";
import { parsePlatform } from "../image/platform.js";
import { platformOption, poolFrom, printJson, registryOptions, type RegistryFlags, timestampOption } from "./options.js";
import { blobProgress } from "./progress.js";
import { count, writtenLine } from "../image/written.js";

export function flattenCommand(): Command {
  return registryOptions(
    new Command("flatten")
      .description("squash every layer into one (whiteouts applied), with a matching diff_id and one history entry")
      .argument("<ref>")
      .requiredOption("-t, --tag <target>", "where to push the flattened image")
      .addOption(timestampOption("created time of the config and its history entry (default: the image's)"))
      .addOption(platformOption()),
  ).action(async (text: string, flags: RegistryFlags & { tag: string; timestamp?: string; platform?: string }) => {
    const progress = blobProgress(!flags.json);
    const result = await flattenImage({
      source: parseReference(text),
      target: parseReference(flags.tag),
      pool: poolFrom(flags),
      onProgress: (bytes, size) => progress.onBlob({ digest: "flattened layer", size, bytes, progress: true }),
      ...(flags.timestamp ? { timestamp: flags.timestamp } : {}),
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
    }).finally(progress.stop);
    if (flags.json) printJson(result);
    else process.stdout.write(writtenLine("flattened", formatReference(parseReference(text)), formatReference(parseReference(flags.tag)), result.digest, `${count(result.stats.layers, "layer")} into one, ${result.layer.digest} (${count(result.stats.entries, "entry", "entries")}, ${result.stats.hidden} hidden by later layers)`));
  });
}
