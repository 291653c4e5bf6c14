import { Command } from "commander";
import { formatReference, parseReference } from "../client/reference.js";
import { appendLayers } from "../image/append.js";
import { parsePlatform } from "../image/platform.js";
import { platformOption, poolFrom, printJson, registryOptions, type RegistryFlags, timestampOption } from "./options.js";
import { count, writtenLine } from "../image/written.js";

export function appendCommand(): Command {
  return registryOptions(
    new Command("append")
      .description("add directories or tarballs as new layers on top of an image")
      .argument("<base>")
      .argument("<inputs...>", "directories or .tar/.tar.gz files, one layer each")
      .requiredOption("-t, --tag <target>", "where to push the result")
      .addOption(timestampOption("created time of the new history entries and config"))
      .addOption(platformOption()),
  ).action(async (base: string, inputs: string[], flags: RegistryFlags & { tag: string; timestamp?: string; platform?: string }) => {
    const result = await appendLayers({
      base: parseReference(base),
      target: parseReference(flags.tag),
      inputs,
      pool: poolFrom(flags),
      ...(flags.timestamp ? { timestamp: flags.timestamp } : {}),
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
    });
    if (flags.json) printJson(result);
    else process.stdout.write(writtenLine("appended", formatReference(parseReference(base)), formatReference(parseReference(flags.tag)), result.digest, `${count(inputs.length, "layer")} added, ${result.bytesMoved} bytes moved`));
  });
}
