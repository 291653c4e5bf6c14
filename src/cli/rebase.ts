import { Command } from "commander";
import { formatReference, parseReference } from "../client/reference.js";
import { parsePlatform } from "../image/platform.js";
import { rebaseImage } from "../image/rebase.js";
import { platformOption, poolFrom, printJson, registryOptions, type RegistryFlags, timestampOption } from "./options.js";
import { count, writtenLine } from "../image/written.js";

interface RebaseFlags extends RegistryFlags {
  old: string;
  new: string;
  tag?: string;
  timestamp?: string;
  platform?: string;
}

export function rebaseCommand(): Command {
  return registryOptions(
    new Command("rebase")
      .description("move an image's own layers from OLD base onto NEW base (mounts; no layer bytes move within a registry)")
      .argument("<image>", "an image built FROM the old base")
      .requiredOption("--old <ref>", "the base IMAGE was built on")
      .requiredOption("--new <ref>", "the base to put under IMAGE's own layers")
      .option("-t, --tag <target>", "where to push the result (default: IMAGE's tag, in place)")
      .addOption(timestampOption("the config's created time (default: the image's own)"))
      .addOption(platformOption()),
  ).action(async (image: string, flags: RebaseFlags) => {
    const source = parseReference(image);
    const target = parseReference(flags.tag ?? image);
    const result = await rebaseImage({
      image: source,
      oldBase: parseReference(flags.old),
      newBase: parseReference(flags.new),
      target,
      pool: poolFrom(flags),
      ...(flags.timestamp ? { timestamp: flags.timestamp } : {}),
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
    });
    if (flags.json) printJson({ target: formatReference(target), ...result });
    else process.stdout.write(writtenLine("rebased", formatReference(source), formatReference(target), result.digest, `${count(result.removed, "old base layer")} replaced by ${result.added}, ${count(result.kept, "own layer")} kept, ${result.bytesMoved} bytes moved`));
  });
}
