import { Command } from "commander";
import { parseReference } from "../client/reference.js";
import { formatInspection, inspectImage } from "../image/inspect.js";
import { parsePlatform } from "../image/platform.js";
import { platformOption, poolFrom, printJson, registryOptions, type RegistryFlags } from "./options.js";

export function inspectCommand(): Command {
  return registryOptions(new Command("inspect").description("show platforms, layers with sizes and the steps that made them, config and history").argument("<ref>").addOption(platformOption())).action(
    async (text: string, flags: RegistryFlags & { platform?: string }) => {
      const result = await inspectImage(poolFrom(flags), parseReference(text), flags.platform ? parsePlatform(flags.platform) : undefined);
      if (flags.json) printJson(result);
      else process.stdout.write(`${formatInspection(result)}\n`);
    },
  );
}
