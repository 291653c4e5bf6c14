import { Command } from "commander";
import { parseReference } from "../client/reference.js";
import { copyImage } from "../image/copy.js";
import { parsePlatform } from "../image/platform.js";
import { platformOption, poolFrom, printJson, registryOptions, type RegistryFlags, positiveInteger } from "./options.js";
import { blobProgress } from "./progress.js";
import { count, writtenLine } from "../image/written.js";

export function copyCommand(): Command {
  return registryOptions(
    new Command("copy")
      .description("copy an image (every platform unless --platform) between repositories or registries, mounting where it can")
      .argument("<src>")
      .argument("<dst>")
      .addOption(platformOption())
      .option("--referrers", "also copy signatures, SBOMs and other referrers")
      .option("-j, --jobs <n>", "parallel blob transfers", positiveInteger, 4),
  ).action(async (src: string, dst: string, flags: RegistryFlags & { platform?: string; referrers?: boolean; jobs: number }) => {
    const progress = blobProgress(!flags.json);
    const report = await copyImage({
      src: parseReference(src),
      dst: parseReference(dst),
      pool: poolFrom(flags),
      concurrency: flags.jobs,
      referrers: flags.referrers === true,
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
      onBlob: progress.onBlob,
    }).finally(progress.stop);
    if (flags.json) printJson(report);
    else process.stdout.write(writtenLine("copied", report.source, report.target, report.digest, `${count(report.manifests, "manifest")}, ${count(report.blobs.length, "blob")}, ${report.bytesMoved} bytes moved`));
  });
}
