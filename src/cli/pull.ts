import { Command, Option } from "commander";
import { parseReference } from "../client/reference.js";
import { localFormats, parseLocalRef, type LocalFormat } from "../image/local-ref.js";
import { parsePlatform } from "../image/platform.js";
import { pullImage } from "../image/pull.js";
import { platformOption, poolFrom, printJson, registryOptions, type RegistryFlags, positiveInteger } from "./options.js";
import { blobProgress } from "./progress.js";
import { count, writtenLine } from "../image/written.js";

export const formatOption = () => new Option("--format <format>", "what a bare path is (default: *.tar is a docker archive, else an OCI layout)").choices(localFormats);

export function pullCommand(): Command {
  return registryOptions(
    new Command("pull")
      .description("pull an image into an OCI layout (oci:DIR[:tag], every platform) or a docker save tarball (docker-archive:FILE[:name:tag], one platform)")
      .argument("<src>", "registry reference")
      .argument("<dest>", "oci:DIR[:tag] | docker-archive:FILE[:repo:tag] | a path with --format")
      .addOption(formatOption())
      .addOption(platformOption())
      .option("-j, --jobs <n>", "parallel blob transfers", positiveInteger, 4),
  ).action(async (src: string, dest: string, flags: RegistryFlags & { format?: LocalFormat; platform?: string; jobs: number }) => {
    const progress = blobProgress(!flags.json);
    const report = await pullImage(parseReference(src), parseLocalRef(dest, flags.format), {
      pool: poolFrom(flags),
      concurrency: flags.jobs,
      onBlob: progress.onBlob,
      ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
    }).finally(progress.stop);
    if (flags.json) printJson(report);
    else process.stdout.write(writtenLine("pulled", report.source, report.destination, report.digest, `${count(report.manifests, "manifest")}, ${count(report.blobs.length, "blob")}, ${report.bytes} bytes`));
  });
}
