import { Command } from "commander";
import { formatReference, parseReference } from "../client/reference.js";
import { formatPlatform, parsePlatform } from "../image/platform.js";
import { loadImage } from "../image/remote.js";
import { platformOption, poolFrom, printJson, registryOptions, type RegistryFlags } from "./options.js";

export function configCommand(): Command {
  return registryOptions(new Command("config").description("print an image's config blob exactly as stored; --json wraps it with its digest and size").argument("<ref>").addOption(platformOption())).action(
    async (text: string, flags: RegistryFlags & { platform?: string }) => {
      const ref = parseReference(text);
      const image = await loadImage(poolFrom(flags), ref, flags.platform ? parsePlatform(flags.platform) : undefined);
      if (flags.json) {
        const { digest, size, mediaType } = image.manifest.config;
        printJson({ reference: formatReference(ref), manifest: image.manifestDigest, platform: formatPlatform(image.platform), digest, mediaType, size, config: image.config });
        return;
      }
      process.stdout.write(image.configBytes);
      if (process.stdout.isTTY) process.stdout.write("\n");
    },
  );
}
