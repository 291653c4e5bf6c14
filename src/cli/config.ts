import { Command } from "commander";
import { parseReference } from "../client/reference.js";
import { parsePlatform } from "../image/platform.js";
import { loadImage } from "../image/remote.js";
import { platformOption, poolFrom, registryOptions, type RegistryFlags } from "./options.js";

export function configCommand(): Command {
  return registryOptions(new Command("config").description("print an image's config blob exactly as stored").argument("<ref>").addOption(platformOption())).action(
    async (text: string, flags: RegistryFlags & { platform?: string }) => {
      const image = await loadImage(poolFrom(flags), parseReference(text), flags.platform ? parsePlatform(flags.platform) : undefined);
      process.stdout.write(image.configBytes);
      if (process.stdout.isTTY) process.stdout.write("\n");
    },
  );
}
